// Proof that a peer knows the cluster's cookie without sending it: HMAC-RIPEMD-160 (RFC 2104
// over CAF's own RIPEMD-160) of a fresh nonce chosen by the other side.
#pragma once

#include <string>
#include <string_view>

namespace microlith::cluster::detail {

/// A fresh random nonce (32 hex digits).
std::string make_nonce();

/// HMAC-RIPEMD-160 of `message` under `key`, as 40 hex digits.
std::string hmac(std::string_view key, std::string_view message);

/// The proof a node named `prover` gives for the nonce `nonce` (the purpose string keeps a
/// proof for one step from being replayed in the other).
std::string cookie_proof(std::string_view cookie, std::string_view purpose, std::string_view nonce,
                         std::string_view prover);

/// Compares two proofs in time independent of where they differ.
bool same_proof(std::string_view a, std::string_view b) noexcept;

} // namespace microlith::cluster::detail
