#include "cluster/cookie_proof.hpp"

#include <caf/detail/ripemd_160.hpp>

#include <array>
#include <cstdint>
#include <random>

namespace microlith::cluster::detail {

namespace {

constexpr std::size_t block_size = 64; // RIPEMD-160's block, in bytes

std::string hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 0xf]);
  }
  return out;
}

std::array<std::uint8_t, 20> digest(const std::string& data) {
  std::array<std::uint8_t, 20> out{};
  caf::detail::ripemd_160(out, data);
  return out;
}

} // namespace

std::string make_nonce() {
  std::random_device rd;
  std::array<unsigned char, 16> bytes{};
  for (auto& b : bytes)
    b = static_cast<unsigned char>(rd());
  return hex(bytes.data(), bytes.size());
}

std::string hmac(std::string_view key, std::string_view message) {
  std::string k{key};
  if (k.size() > block_size) {
    auto d = digest(k);
    k.assign(d.begin(), d.end());
  }
  k.resize(block_size, '\0');
  std::string inner(block_size, '\0');
  std::string outer(block_size, '\0');
  for (std::size_t i = 0; i < block_size; ++i) {
    inner[i] = static_cast<char>(k[i] ^ 0x36);
    outer[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  inner.append(message);
  auto inner_digest = digest(inner);
  outer.append(inner_digest.begin(), inner_digest.end());
  auto mac = digest(outer);
  return hex(mac.data(), mac.size());
}

std::string cookie_proof(std::string_view cookie, std::string_view purpose, std::string_view nonce,
                         std::string_view prover) {
  std::string message;
  message.reserve(purpose.size() + nonce.size() + prover.size() + 2);
  message.append(purpose).append(1, '\n').append(nonce).append(1, '\n').append(prover);
  return hmac(cookie, message);
}

bool same_proof(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

} // namespace microlith::cluster::detail
