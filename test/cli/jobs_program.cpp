// The microlith command with a module whose services run jobs, for jobs_kill.sh and the jobs
// cluster test (test/cluster_jobs): test.jobs, with
// - group work: service worker answering microlith.test.Echo's Ping. Each call appends
//   "JOB_ID ATTEMPT TEXT" (then " NODE" when MICROLITH_TEST_NODE is set) to the file named by
//   MICROLITH_TEST_ATTEMPTS as it starts (one write of one line, so a kill -9 leaves whole
//   lines), then answers after the request's delay_ms (an attempt after the first: after the
//   request's value instead, when it is greater than 0);
// - group relays: service relay (microlith.test.Relay's Forward): calls the request's service
//   and method with its ping and answers with the reply;
// - group records: service recorder, a worker that appends to MICROLITH_TEST_SEEN instead: what
//   a service called by a job's handler (on another node) sees of the job.
#include "microlith/cli/main.hpp"

#include <microlith/actors/service.hpp>
#include <microlith/services/module.hpp>

#include "proto/test.pb.h"

#include <caf/event_based_actor.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <utility>

namespace {

namespace tpb = microlith::test;

class recording_worker {
public:
  explicit recording_worker(const char* file_variable = "MICROLITH_TEST_ATTEMPTS")
    : file_variable_(file_variable) {}

  microlith::reply<tpb::PingReply> ping(microlith::call_context& ctx, const tpb::PingRequest& req) {
    record(file_variable_, ctx.job_id(), ctx.attempt(), req.text());
    tpb::PingReply out;
    out.set_text(req.text());
    out.set_value(ctx.job_id());
    auto delay = req.delay_ms();
    if (ctx.attempt() > 1 && req.value() > 0)
      delay = req.value();
    if (delay <= 0)
      return out;
    // Answer later: keep the promise and have a timer cast Wake to this very instance.
    auto promise = ctx.make_promise<tpb::PingReply>();
    auto token = next_token_++;
    delayed_.emplace(token, std::make_pair(promise, std::move(out)));
    microlith::envelope wake;
    wake.kind = microlith::envelope_kind::cast;
    wake.service = ctx.name();
    wake.method = "Wake";
    tpb::WakeRequest body;
    body.set_token(token);
    wake.body = std::make_shared<const tpb::WakeRequest>(std::move(body));
    wake.meta.caller = ctx.name();
    ctx.self()->delayed_send(ctx.self(), std::chrono::milliseconds{delay}, std::move(wake));
    return promise;
  }

  microlith::reply<tpb::Empty> wake(microlith::call_context&, const tpb::WakeRequest& req) {
    auto i = delayed_.find(req.token());
    if (i != delayed_.end()) {
      i->second.first.deliver(std::move(i->second.second));
      delayed_.erase(i);
    }
    return tpb::Empty{};
  }

private:
  static void record(const char* variable, std::int64_t job, std::int32_t attempt,
                     const std::string& text) {
    const char* file = std::getenv(variable);
    if (file == nullptr)
      return;
    int fd = ::open(file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
      return;
    auto line = std::to_string(job) + " " + std::to_string(attempt) + " " + text;
    if (const char* node = std::getenv("MICROLITH_TEST_NODE"))
      line += std::string{" "} + node;
    line += "\n";
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
  }

  const char* file_variable_;
  std::uint64_t next_token_ = 1;
  std::map<std::uint64_t, std::pair<microlith::promise<tpb::PingReply>, tpb::PingReply>> delayed_;
};

// Forwards a job's request to the service it names and answers with that service's reply.
class relay {
public:
  microlith::reply<tpb::RelayReply> forward(microlith::call_context& ctx,
                                            const tpb::RelayRequest& req) {
    auto promise = ctx.make_promise<tpb::RelayReply>();
    ctx.call<tpb::PingReply>(req.service(), req.method(), req.ping())
      .then(
        [promise](const tpb::PingReply& echoed) mutable {
          tpb::RelayReply out;
          *out.mutable_echo() = echoed;
          promise.deliver(std::move(out));
        },
        [promise](const caf::error& err) mutable { promise.deliver(err); });
    return promise;
  }
};

} // namespace

MICROLITH_MODULE(test_jobs) {
  return microlith::module_definition{"test.jobs"}
    .group("work",
           [](microlith::group_context& g) {
             return microlith::children{
               g.service(microlith::service<recording_worker>("worker", "microlith.test.Echo")
                           .handle("Ping", &recording_worker::ping)
                           .handle("Wake", &recording_worker::wake))};
           })
    .group("relays",
           [](microlith::group_context& g) {
             return microlith::children{
               g.service(microlith::service<relay>("relay", "microlith.test.Relay")
                           .handle("Forward", &relay::forward))};
           })
    .group("records", [](microlith::group_context& g) {
      return microlith::children{
        g.service(microlith::service<recording_worker>("recorder", "microlith.test.Echo",
                                                       "MICROLITH_TEST_SEEN")
                    .handle("Ping", &recording_worker::ping)
                    .handle("Wake", &recording_worker::wake))};
    });
}

int main(int argc, char** argv) {
  return microlith::cli::main(argc, argv);
}
