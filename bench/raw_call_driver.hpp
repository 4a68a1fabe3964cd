// The raw CAF floor of the call benchmarks: an event-based actor that keeps a batch's requests to
// an echo actor in flight with CAF's own `request(...).then(...)`, as call_driver does with
// microlith's calls. `Payload` is what it sends and the echo answers: an integer in one process
// (call_bench), the serialized bench.PingRequest across nodes (cluster_bench).
#pragma once

#include "round_trip_batch.hpp"

#include <caf/all.hpp>

#include <cstdint>
#include <memory>
#include <utility>

namespace bench {

/// Makes the payload of round trip number `n`.
template <class Payload>
using payload_maker = Payload (*)(std::int64_t n);

template <class Payload>
struct raw_driver_state {
  caf::actor echo;
  caf::duration timeout;
  payload_maker<Payload> payload = nullptr;
  std::shared_ptr<round_trip_batch> work;
};

template <class Payload>
using raw_driver_actor = caf::stateful_actor<raw_driver_state<Payload>>;

template <class Payload>
void raw_finish(raw_driver_actor<Payload>* self) {
  self->state.work->done.set_value();
  self->quit();
}

/// Sends one request and, on its reply, the next one until the batch is complete.
template <class Payload>
void raw_request_one(raw_driver_actor<Payload>* self) {
  auto& st = self->state;
  auto sent_at = st.work->send_time();
  self->request(st.echo, st.timeout, st.payload(st.work->sent++))
    .then(
      [self, sent_at](const Payload&) {
        auto& b = *self->state.work;
        if (b.answered(sent_at))
          raw_finish(self);
        else if (b.more_to_send())
          raw_request_one(self);
      },
      [self](caf::error& err) {
        auto& b = *self->state.work;
        if (b.failure.empty()) {
          b.failure = "raw request failed: " + to_string(err);
          raw_finish(self);
        }
      });
}

/// Keeps `work->outstanding` requests to `echo` in flight until `work->total` have answered,
/// each with `timeout` (`caf::infinite` for none) and the payload `payload` makes.
template <class Payload>
void raw_driver(raw_driver_actor<Payload>* self, caf::actor echo, caf::duration timeout,
                payload_maker<Payload> payload, std::shared_ptr<round_trip_batch> work) {
  self->state.echo = std::move(echo);
  self->state.timeout = timeout;
  self->state.payload = payload;
  self->state.work = std::move(work);
  for (std::int64_t i = 0; i < self->state.work->outstanding; ++i)
    raw_request_one(self);
}

} // namespace bench
