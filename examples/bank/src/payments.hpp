// The bank example's payments service (module bank.payments): money that arrives through a
// payment provider. The provider calls the webhook POST /webhooks/payments (method Receive) with
// a PaymentNotice; the service checks it and records a durable job on the queue "payments",
// unique on the payment id for 30 days, and answers at once (HTTP 202) with the job's id — the
// same id for a repeated delivery. The job (method Settle, run by the queue's workers):
//
//   1. deposits the amount into the account through the accounts service, with the idempotency
//      key "payment:<payment_id>": however many attempts the job takes, and across restarts and
//      kill -9, the money is deposited once (a later attempt is answered the first outcome);
//   2. confirms the payment to the provider with POST {provider_url}/payments/{payment_id}/confirm
//      (a JSON body with the payment, the header Idempotency-Key: payment:<payment_id>), and
//      fails the attempt unless the provider answers 2xx, so the job retries with its queue's
//      backoff until it does.
//
// The confirmation goes through the HTTP client (microlith/net/http/http_client.hpp) that the
// module's group makes from its config; the handler never waits on a scheduler thread.
#pragma once

#include <microlith/actors/service.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace microlith::http {
class http_client;
} // namespace microlith::http

namespace bank {

/// The name callers use to reach the payments service.
inline constexpr const char* payments_service = "payments";

/// The Protobuf service the payments service implements.
inline constexpr const char* payments_contract = "bank.Payments";

/// The queue of the payment jobs; its method is payments.Settle (the system file declares it,
/// [groups.payments.jobs.payments]).
inline constexpr const char* payments_queue = "payments";

/// The most characters of a payment id.
inline constexpr std::size_t max_payment_id = 128;

/// Why `url` cannot be the provider's address (an absolute http:// or https:// URL without
/// query or fragment, that the paths /payments/{id}/confirm are appended to), or "" when it can.
std::string provider_url_problem(std::string_view url);

/// The payments service's definition (service "payments", contract bank.Payments), ready to
/// spawn or supervise: it confirms payments to the provider at `provider_url` (checked with
/// provider_url_problem; a trailing '/' is dropped) through `client`, which must outlive every
/// instance (each holds it). It calls the accounts service (Deposit) and enqueues on the queue
/// "payments", which needs the node's job store ([jobs] database).
microlith::service_definition make_payments(std::shared_ptr<microlith::http::http_client> client,
                                            std::string provider_url);

} // namespace bank
