// The microlith command with a module whose service runs jobs, for jobs_kill.sh: test.jobs
// (group work, service worker answering microlith.test.Echo's Ping). Each call appends
// "JOB_ID ATTEMPT TEXT" to the file named by MICROLITH_TEST_ATTEMPTS as it starts (one write
// of one line, so a kill -9 leaves whole lines), then answers after the request's delay_ms.
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
  microlith::reply<tpb::PingReply> ping(microlith::call_context& ctx, const tpb::PingRequest& req) {
    record(ctx.job_id(), ctx.attempt(), req.text());
    tpb::PingReply out;
    out.set_text(req.text());
    out.set_value(ctx.job_id());
    if (req.delay_ms() <= 0)
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
    ctx.self()->delayed_send(ctx.self(), std::chrono::milliseconds{req.delay_ms()},
                             std::move(wake));
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
  static void record(std::int64_t job, std::int32_t attempt, const std::string& text) {
    const char* file = std::getenv("MICROLITH_TEST_ATTEMPTS");
    if (file == nullptr)
      return;
    int fd = ::open(file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
      return;
    auto line = std::to_string(job) + " " + std::to_string(attempt) + " " + text + "\n";
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
  }

  std::uint64_t next_token_ = 1;
  std::map<std::uint64_t, std::pair<microlith::promise<tpb::PingReply>, tpb::PingReply>> delayed_;
};

} // namespace

MICROLITH_MODULE(test_jobs) {
  return microlith::module_definition{"test.jobs"}.group("work", [](microlith::group_context& g) {
    return microlith::children{
      g.service(microlith::service<recording_worker>("worker", "microlith.test.Echo")
                  .handle("Ping", &recording_worker::ping)
                  .handle("Wake", &recording_worker::wake))};
  });
}

int main(int argc, char** argv) {
  return microlith::cli::main(argc, argv);
}
