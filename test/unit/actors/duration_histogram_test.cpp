#include "microlith/actors/duration_histogram.hpp"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

using namespace microlith;
using namespace std::chrono_literals;

TEST_CASE("duration_bucket puts a duration in the first bucket whose bound it does not exceed",
          "[metrics]") {
  CHECK(duration_bucket(0ns) == 0);
  CHECK(duration_bucket(100us) == 0); // exactly the first bound
  CHECK(duration_bucket(101us) == 1);
  CHECK(duration_bucket(1ms) == 3);
  CHECK(duration_bucket(10s) == duration_bounds_seconds.size() - 1);
  CHECK(duration_bucket(11s) == duration_bounds_seconds.size()); // above every bound
}

TEST_CASE("a histogram's quantiles interpolate inside the bucket as histogram_quantile does",
          "[metrics]") {
  duration_histogram h;
  CHECK(h.quantile(0.5) == 0);
  h.counts[3] = 100; // 100 durations in (0.5 ms, 1 ms]
  h.count = 100;
  CHECK(h.quantile(0.5) == Approx(0.00075));
  CHECK(h.quantile(0.99) == Approx(0.000995));
  h.counts[duration_bounds_seconds.size()] = 100; // and 100 above 10 s
  h.count = 200;
  CHECK(h.quantile(0.99) == Approx(10.0)); // the last bucket answers its lower bound
}

TEST_CASE("a recorder counts from several threads and two readings subtract", "[metrics]") {
  duration_recorder r;
  auto first = r.read();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&r] {
      for (int i = 0; i < 1000; ++i)
        r.record(2ms);
    });
  for (auto& t : threads)
    t.join();
  auto later = r.read();
  auto diff = later - first;
  CHECK(diff.count == 4000);
  CHECK(diff.counts[duration_bucket(2ms)] == 4000);
  CHECK(diff.sum_seconds == Approx(8.0));
  duration_histogram both = diff;
  both += diff;
  CHECK(both.count == 8000);
}
