// The payments service's state and handlers (see payments.hpp).
#include "payments.hpp"

#include "proto/bank.pb.h"
#include "proto/payments.pb.h"

#include <microlith/actors/error.hpp>
#include <microlith/actors/log.hpp>
#include <microlith/net/gateway/http_binding.hpp>
#include <microlith/net/http/http_client.hpp>
#include <microlith/net/http/http_url.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace bank {

namespace {

namespace mh = microlith::http;

/// How long a payment id stays taken by its job: a delivery of the same payment within this
/// time answers that job.
constexpr std::chrono::hours payment_unique_period{24 * 30};

/// The idempotency key of the deposit of payment `id` (and of its confirmation).
std::string payment_key(const std::string& id) {
  return "payment:" + id;
}

bool payment_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
         || c == '_' || c == ':' || c == '-';
}

/// Why the notice cannot be accepted, naming the field; an empty string when it can.
std::string notice_problem(const PaymentNotice& n) {
  const auto& id = n.payment_id();
  if (id.empty())
    return "payment_id: must not be empty";
  if (id.size() > max_payment_id || !std::all_of(id.begin(), id.end(), payment_id_char) || id == "."
      || id == "..")
    return fmt::format("payment_id: expected 1 to {} characters of [A-Za-z0-9._:-] (not \".\" or "
                       "\"..\"), got \"{}\"",
                       max_payment_id,
                       id.size() > max_payment_id ? id.substr(0, max_payment_id) + "..." : id);
  if (n.account_id().empty())
    return "account_id: must not be empty";
  if (n.amount() <= 0)
    return fmt::format("amount: must be a positive number of cents, got {}", n.amount());
  return {};
}

/// At most the first 200 characters of a provider's answer, for a message.
std::string excerpt(const std::string& body) {
  return body.size() <= 200 ? body : body.substr(0, 200) + "...";
}

/// The state of one payments instance.
class payments_state {
public:
  payments_state(std::shared_ptr<mh::http_client> client, std::string provider_url)
    : client_(std::move(client)), provider_url_(std::move(provider_url)) {}

  /// The webhook: checks the notice and records its job, unique on the payment id.
  microlith::reply<PaymentAccepted> receive(microlith::call_context& ctx, const PaymentNotice& n) {
    if (auto problem = notice_problem(n); !problem.empty())
      return microlith::fail(microlith::errc::invalid_argument, std::move(problem));
    PaymentJob job;
    job.set_payment_id(n.payment_id());
    job.set_account_id(n.account_id());
    job.set_amount(n.amount());
    microlith::job_options options;
    options.unique_key = payment_key(n.payment_id());
    options.unique_period = payment_unique_period;
    auto answer = ctx.make_promise<PaymentAccepted>();
    ctx.enqueue(payments_queue, job, options)
      .then(
        [answer, ctx, id = n.payment_id()](const microlith::enqueued_job& queued) mutable {
          if (queued.duplicate)
            microlith::log::write(microlith::log::level::info, ctx.name(), ctx.correlation_id(),
                                  "payment {} was received before: job {}", id, queued.id);
          PaymentAccepted accepted;
          accepted.set_job_id(queued.id);
          accepted.set_duplicate(queued.duplicate);
          answer.deliver(std::move(accepted));
        },
        [answer, id = n.payment_id()](const caf::error& err) mutable {
          auto code = microlith::code_of(err);
          answer.deliver(microlith::make_error(
            code == microlith::errc::none ? microlith::errc::service_unavailable : code,
            fmt::format("payment {} was not recorded ({}); nothing was done, deliver it again", id,
                        microlith::describe(err))));
        });
    return answer;
  }

  /// A job's attempt: the deposit (idempotent on the payment id), then the confirmation.
  microlith::reply<PaymentSettled> settle(microlith::call_context& ctx, const PaymentJob& job) {
    microlith::log::write(microlith::log::level::info, ctx.name(), ctx.correlation_id(),
                          "payment {}: job {} attempt {}: deposit of {} to account {}",
                          job.payment_id(), ctx.job_id(), ctx.attempt(), job.amount(),
                          job.account_id());
    auto answer = ctx.make_promise<PaymentSettled>();
    DepositRequest deposit;
    deposit.set_account_id(job.account_id());
    deposit.set_amount(job.amount());
    deposit.set_memo("payment " + job.payment_id());
    ctx.with_idempotency_key(payment_key(job.payment_id()))
      .call<Account>("accounts", "Deposit", std::move(deposit))
      .then(
        [this, answer, ctx, job](const Account& account) mutable {
          confirm(ctx, job, account, std::move(answer));
        },
        [answer, job](const caf::error& err) mutable {
          answer.deliver(microlith::make_error(
            microlith::code_of(err) == microlith::errc::none ? microlith::errc::remote_error
                                                             : microlith::code_of(err),
            fmt::format("payment {}: the deposit of {} to account {} failed: {}", job.payment_id(),
                        job.amount(), job.account_id(), microlith::describe(err))));
        });
    return answer;
  }

private:
  /// POST {provider_url}/payments/{payment_id}/confirm; answers `answer` when it is 2xx.
  void confirm(const microlith::call_context& ctx, const PaymentJob& job, const Account& account,
               microlith::promise<PaymentSettled> answer) {
    auto url = fmt::format("{}/payments/{}/confirm", provider_url_, job.payment_id());
    auto body = fmt::format(R"({{"payment_id":{},"account_id":{},"amount":{}}})",
                            microlith::gateway::json_quote(job.payment_id()),
                            microlith::gateway::json_quote(job.account_id()), job.amount());
    auto request = mh::http_request::post(url, std::move(body), "application/json");
    request.headers.push_back({"Idempotency-Key", payment_key(job.payment_id())});
    client_->request(ctx, std::move(request))
      .then(
        [answer, job, account, url, attempt = ctx.attempt()](mh::http_response response) mutable {
          if (!response.ok()) {
            answer.deliver(microlith::fail(
              microlith::errc::service_unavailable,
              fmt::format("payment {}: the provider answered {} {} to POST {} (the deposit is "
                          "recorded; the confirmation is retried): {}",
                          job.payment_id(), response.status, response.reason, url,
                          excerpt(response.body))));
            return;
          }
          PaymentSettled settled;
          settled.set_payment_id(job.payment_id());
          settled.set_account_id(account.id());
          settled.set_balance(account.balance());
          settled.set_provider_status(static_cast<std::int32_t>(response.status));
          settled.set_attempt(attempt);
          answer.deliver(std::move(settled));
        },
        [answer, job](const caf::error& err) mutable {
          auto code = microlith::code_of(err);
          answer.deliver(microlith::make_error(
            code == microlith::errc::none ? microlith::errc::service_unavailable : code,
            fmt::format("payment {}: the confirmation to the provider failed (the deposit is "
                        "recorded; the confirmation is retried): {}",
                        job.payment_id(), microlith::describe(err))));
        });
  }

  std::shared_ptr<mh::http_client> client_;
  std::string provider_url_;
};

} // namespace

std::string provider_url_problem(std::string_view url) {
  auto parsed = mh::parse_http_url(url);
  if (!parsed)
    return microlith::message_of(parsed.error());
  if (url.find_first_of("?#") != std::string_view::npos)
    return fmt::format("\"{}\" has a query or fragment; expected the provider's base URL, such as "
                       "\"https://provider.example.com/v1\"",
                       url);
  return {};
}

microlith::service_definition make_payments(std::shared_ptr<mh::http_client> client,
                                            std::string provider_url) {
  while (!provider_url.empty() && provider_url.back() == '/')
    provider_url.pop_back();
  return microlith::service<payments_state>(payments_service, payments_contract, std::move(client),
                                            std::move(provider_url))
    .handle("Receive", &payments_state::receive)
    .handle("Settle", &payments_state::settle);
}

} // namespace bank
