// microlith's side of the call benchmarks: a worker whose state keeps a batch's requests to
// echo.Ping (echo_service.hpp) in flight through `call_context::call` (registry lookup, envelope,
// deadline tracking and continuation).
#pragma once

#include "proto/bench.pb.h"
#include "round_trip_batch.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/service.hpp>

#include <caf/event_based_actor.hpp>

#include <cstdint>
#include <memory>
#include <utility>

namespace bench {

/// A worker's state that keeps `outstanding` calls to echo.Ping in flight until the batch is
/// complete, then fulfils the batch's promise and stops its actor.
class call_driver {
public:
  call_driver(microlith::call_context& ctx, std::shared_ptr<round_trip_batch> work)
    : ctx_(ctx), work_(std::move(work)) {
    for (std::int64_t i = 0; i < work_->outstanding; ++i)
      call_one();
  }

private:
  void call_one() {
    bench::PingRequest request;
    request.set_value(work_->sent++);
    auto sent_at = work_->send_time();
    ctx_.call<bench::PingReply>("echo", "Ping", std::move(request))
      .then([this, sent_at](const bench::PingReply&) { on_reply(sent_at); },
            [this](const caf::error& err) { on_error(err); });
  }

  void on_reply(std::chrono::steady_clock::time_point sent_at) {
    if (work_->answered(sent_at))
      finish();
    else if (work_->more_to_send())
      call_one();
  }

  void on_error(const caf::error& err) {
    if (!work_->failure.empty())
      return;
    work_->failure = "call failed: " + microlith::describe(err);
    finish();
  }

  void finish() {
    work_->done.set_value();
    ctx_.self()->quit();
  }

  microlith::call_context ctx_;
  std::shared_ptr<round_trip_batch> work_;
};

/// A driver worker for the batch `work`.
inline microlith::service_definition driver_definition(std::shared_ptr<round_trip_batch> work) {
  return microlith::worker<call_driver>("driver", std::move(work));
}

} // namespace bench
