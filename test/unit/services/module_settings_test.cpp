// A module owns its tables in the system file (module_definition::settings, settings_table.hpp):
// a user's module declares a table, reads its keys with their checks while the file is parsed,
// and its group gets what it read; mistakes name the file, line, column and key; a table that
// the group's module does not declare, and a key that a module's reader does not ask for, are
// refused.
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/settings_table.hpp>
#include <microlith/services/system_file.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <any>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

namespace {

// What module shop.cart reads from a group's [limits] table.
struct cart_limits {
  std::int64_t max_items = 100;
  std::optional<std::int64_t> max_total;
  std::chrono::milliseconds hold{30000};
};

// [groups.NAME.limits]: max_items (required, 1..1000), max_total (>= max_items), hold (a
// duration).
cart_limits read_limits(const microlith::group_tables& tables) {
  cart_limits out;
  auto limits = tables.table("limits");
  if (!limits) {
    if (!tables.has("limits"))
      tables.refuse(tables.key("limits"), "a cart group needs a [limits] table");
    return out;
  }
  auto items = limits->integer("max_items", 1, 1000, "an integer from 1 to 1000",
                               microlith::presence::required);
  if (items)
    out.max_items = *items;
  if (auto total = limits->find("max_total")) {
    if (!total->integer())
      total->refuse_type("an integer");
    else if (items && *total->integer() < *items)
      total->refuse("expected at least max_items (" + std::to_string(*items) + "), got "
                    + total->text());
    else
      out.max_total = total->integer();
  }
  if (auto hold = limits->duration("hold"))
    out.hold = *hold;
  return out;
}

// What the cart group's builder was given (set when the group starts).
std::mutex seen_mutex;
std::optional<cart_limits> seen_limits;

// The modules of these tests: the built-in ones and shop.cart, whose group "cart" records the
// settings it is given.
microlith::module_catalogue& test_modules() {
  static microlith::module_catalogue modules;
  static const bool filled = [] {
    microlith::detail::add_builtin_modules(modules);
    modules.add(microlith::module_definition{"shop.cart"}
                  .summary("the shopping cart")
                  .settings({"limits"}, read_limits)
                  .group("cart", [](microlith::group_context& g) {
                    {
                      std::lock_guard<std::mutex> guard{seen_mutex};
                      seen_limits = g.settings<cart_limits>();
                    }
                    return microlith::children{};
                  }));
    modules.add(
      microlith::module_definition{"shop.search"}
        .settings({"config"},
                  [](const microlith::group_tables& tables) {
                    std::vector<std::string> engines;
                    if (auto config = tables.table("config"))
                      if (auto list = config->find("engines"))
                        for (const auto& engine :
                             list->array().value_or(std::vector<microlith::setting>{}))
                          engines.push_back(engine.string().value_or(""));
                    return engines;
                  })
        .group("search", [](microlith::group_context&) { return microlith::children{}; }));
    modules.add(
      microlith::module_definition{"shop.window"}
        .settings({"window"},
                  [](const microlith::group_tables& tables) {
                    // Two views of one table, each asking for one key.
                    std::int64_t width = 0;
                    std::int64_t height = 0;
                    if (auto a = tables.table("window"))
                      width = a->integer("width", 1, 100, "1..100").value_or(0);
                    if (auto b = tables.table("window"))
                      height = b->integer("height", 1, 100, "1..100").value_or(0);
                    return width * height;
                  })
        .group("window", [](microlith::group_context&) { return microlith::children{}; }));
    modules.add(
      microlith::module_definition{"shop.broken"}
        .settings({"quota"},
                  [](const microlith::group_tables&) -> int {
                    throw std::runtime_error("no limits today");
                  })
        .group("broken", [](microlith::group_context&) { return microlith::children{}; }));
    return true;
  }();
  (void)filled;
  return modules;
}

// A system with one cart group (lines 1-5); tests append its tables.
constexpr std::string_view cart_file = R"([system]
name = "shop"
[groups.cart]
module = "shop.cart"
strategy = "one_for_one"
)";

std::string with_cart(std::string_view rest) {
  return std::string(cart_file) + std::string(rest);
}

microlith::system_config parse(std::string_view text) {
  return microlith::parse_system_file(text, "shop.toml", test_modules());
}

std::vector<microlith::system_file_error> errors_of(std::string_view text) {
  try {
    (void)parse(text);
  } catch (const microlith::system_file_errors& e) {
    return e.errors();
  }
  FAIL("parse_system_file accepted the file");
  return {};
}

// Parsing `text` reports exactly one error: at `line`:`column` of shop.toml, naming `key`, its
// message containing `fragment`.
void check_single(std::string_view text, int line, int column, std::string_view key,
                  std::string_view fragment) {
  auto errors = errors_of(text);
  INFO("errors: " << microlith::system_file_errors(errors).what());
  REQUIRE(errors.size() == 1);
  const auto& error = errors.front();
  CHECK(error.file == "shop.toml");
  CHECK(error.line == line);
  CHECK(error.column == column);
  CHECK(error.key == key);
  CHECK_THAT(error.message, Contains(std::string(fragment)));
}

const cart_limits* limits_of(const microlith::system_config& config) {
  return std::any_cast<cart_limits>(&config.find_group("cart")->settings);
}

} // namespace

TEST_CASE("a user's module reads its own table while the file is parsed", "[unit]") {
  SECTION("every key") {
    auto config = parse(with_cart("[groups.cart.limits]\nmax_items = 5\nmax_total = 9\n"
                                  "hold = \"2m\"\n"));
    const auto* limits = limits_of(config);
    REQUIRE(limits != nullptr);
    CHECK(limits->max_items == 5);
    CHECK(limits->max_total == std::optional<std::int64_t>{9});
    CHECK(limits->hold == 2min);
    CHECK(config.find_group("cart")->config.empty());
  }
  SECTION("the defaults of the keys left out") {
    auto config = parse(with_cart("[groups.cart.limits]\nmax_items = 1000\n"));
    const auto* limits = limits_of(config);
    REQUIRE(limits != nullptr);
    CHECK(limits->max_items == 1000);
    CHECK_FALSE(limits->max_total.has_value());
    CHECK(limits->hold == 30s);
  }
  SECTION("a free-form config table beside it") {
    auto config = parse(with_cart("[groups.cart.limits]\nmax_items = 3\n"
                                  "[groups.cart.config]\nregion = \"eu\"\n"));
    REQUIRE(limits_of(config) != nullptr);
    CHECK(std::get<std::string>(config.find_group("cart")->config.at("region")) == "eu");
  }
}

TEST_CASE("a user's module's group gets the settings its module read", "[unit]") {
  auto config = parse(with_cart("[groups.cart.limits]\nmax_items = 7\nhold = \"5s\"\n"));
  {
    std::lock_guard<std::mutex> guard{seen_mutex};
    seen_limits.reset();
  }
  microlith::node_options options;
  options.threads = 2;
  microlith::node node{options};
  {
    microlith::host host{node, config, test_modules()};
    REQUIRE_FALSE(host.start());
    std::lock_guard<std::mutex> guard{seen_mutex};
    REQUIRE(seen_limits.has_value());
    CHECK(seen_limits->max_items == 7);
    CHECK(seen_limits->hold == 5s);
    host.stop();
  }
  node.shutdown();
}

TEST_CASE("a user's module refuses its table's mistakes with file, line, column and key",
          "[unit]") {
  SECTION("a value out of range") {
    check_single(with_cart("[groups.cart.limits]\nmax_items = 0\n"), 7, 13,
                 "groups.cart.limits.max_items", "expected an integer from 1 to 1000, got 0");
  }
  SECTION("a value of the wrong type") {
    check_single(with_cart("[groups.cart.limits]\nmax_items = \"many\"\n"), 7, 13,
                 "groups.cart.limits.max_items", "expected an integer, got a string");
    check_single(with_cart("[groups.cart.limits]\nmax_items = 2\nhold = 5\n"), 8, 8,
                 "groups.cart.limits.hold",
                 R"(expected a duration string such as "5s" or "250ms", got an integer)");
  }
  SECTION("a required key missing") {
    check_single(with_cart("[groups.cart.limits]\nmax_total = 3\n"), 6, 1,
                 "groups.cart.limits.max_items", "missing required key");
  }
  SECTION("the module's own check across two keys") {
    check_single(with_cart("[groups.cart.limits]\nmax_items = 10\nmax_total = 4\n"), 8, 13,
                 "groups.cart.limits.max_total", "expected at least max_items (10), got 4");
  }
  SECTION("a required table missing") {
    check_single(cart_file, 3, 1, "groups.cart.limits", "a cart group needs a [limits] table");
  }
  SECTION("the table is not a table") {
    check_single(with_cart("limits = 3\n"), 6, 10, "groups.cart.limits",
                 "expected a table, got an integer");
  }
  SECTION("a key the module does not know") {
    check_single(with_cart("[groups.cart.limits]\nmax_items = 2\nmax_itemz = 3\n"), 8, 1,
                 "groups.cart.limits.max_itemz",
                 R"(unknown key "max_itemz"; expected one of max_items, max_total, hold)");
  }
  SECTION("with the parser's own errors, all of them in file order") {
    auto errors = errors_of(R"([system]
name = "shop"
[groups.cart]
module = "shop.cart"
strategy = "one_for_none"
[groups.cart.limits]
max_items = 2000
colour = "red"
)");
    REQUIRE(errors.size() == 3);
    CHECK(errors[0].key == "groups.cart.strategy");
    CHECK(errors[1].key == "groups.cart.limits.max_items");
    CHECK(errors[1].line == 7);
    CHECK(errors[2].key == "groups.cart.limits.colour");
    CHECK_THAT(errors[2].to_string(),
               Equals(R"(shop.toml:8:1: groups.cart.limits.colour: unknown key "colour"; )"
                      R"(expected one of max_items, max_total, hold)"));
  }
  SECTION("a reader that throws") {
    check_single("[system]\nname = \"shop\"\n[groups.broken]\nmodule = \"shop.broken\"\n", 3, 1,
                 "groups.broken",
                 R"(the settings reader of module "shop.broken" failed: no limits today)");
  }
}

TEST_CASE("a group's table that its module does not declare is refused", "[unit]") {
  SECTION("a table of another module") {
    check_single(
      with_cart("[groups.cart.limits]\nmax_items = 2\n[groups.cart.routes]\n"
                "\"GET /a\" = \"cart.Get\"\n"),
      8, 1, "groups.cart.routes",
      R"(only groups of module "microlith.gateway" (the gateway) have a [routes] table)");
  }
  SECTION("a table no module declares") {
    check_single(with_cart("[groups.cart.limits]\nmax_items = 2\n[groups.cart.storage]\n"
                           "path = \"x\"\n"),
                 8, 14, "groups.cart.storage",
                 R"(unknown key "storage"; expected one of module, needs, restart, strategy, )"
                 R"(intensity, period, shutdown, backoff, config, jobs, limits)");
  }
  SECTION("a table for a module that is not linked in") {
    check_single(
      "[system]\nname = \"shop\"\n[groups.wish]\nmodule = \"shop.wishlist\"\n"
      "[groups.wish.storage]\npath = \"x\"\n",
      5, 14, "groups.wish.storage",
      R"(unknown key "storage"; expected one of module, needs, restart, strategy, )"
      R"(intensity, period, shutdown, backoff, config, jobs (module "shop.wishlist" is not )"
      R"(linked into this program, so no table of its own is known))");
  }
  SECTION("a module's table in a group of a module that is not linked in") {
    check_single("[system]\nname = \"shop\"\n[groups.wish]\nmodule = \"shop.wishlist\"\n"
                 "[groups.wish.limits]\nmax_items = 1\n",
                 5, 1, "groups.wish.limits",
                 R"(only groups of module "shop.cart" (the shopping cart) have a [limits] table)");
  }
}

TEST_CASE("a module that declares config reads that table itself", "[unit]") {
  const auto config = parse(R"([system]
name = "shop"
[groups.search]
module = "shop.search"
[groups.search.config]
engines = ["fast", "deep"]
)");
  const auto& group = *config.find_group("search");
  const auto* engines = std::any_cast<std::vector<std::string>>(&group.settings);
  REQUIRE(engines != nullptr);
  CHECK(*engines == std::vector<std::string>{"fast", "deep"});
  CHECK(group.config.empty()); // not read free-form: an array is fine here
}

TEST_CASE("a table read through two views knows the keys asked through either", "[unit]") {
  const auto config = parse(R"([system]
name = "shop"
[groups.window]
module = "shop.window"
[groups.window.window]
width = 3
height = 4
)");
  const auto* area = std::any_cast<std::int64_t>(&config.find_group("window")->settings);
  REQUIRE(area != nullptr);
  CHECK(*area == 12);
  check_single("[system]\nname = \"shop\"\n[groups.window]\nmodule = \"shop.window\"\n"
               "[groups.window.window]\nwidth = 3\nheight = 4\ndepth = 5\n",
               8, 1, "groups.window.window.depth",
               R"(unknown key "depth"; expected one of width, height)");
}
