#include "observer/observer_settings.hpp"

#include "detail/listen_address.hpp"
#include "detail/toml_text.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace microlith {

const observer_metrics_listen* observer_config::metrics_of(const std::string& placement) const {
  if (placement.empty())
    return metrics ? &*metrics : nullptr;
  auto i = node_metrics.find(placement);
  return i == node_metrics.end() ? nullptr : &i->second;
}

namespace detail {

namespace {

class observer_reader {
public:
  observer_reader(const toml::table& table, const std::string& path,
                  const std::vector<node_config>& nodes, std::vector<system_file_error>& errors)
    : table_(table), path_(path), nodes_(nodes), errors_(errors) {}

  observer_config read() {
    observer_config out;
    out.line = static_cast<int>(table_.source().begin.line);
    for (auto&& [k, v] : table_) {
      const std::string key{k.str()};
      if (key == "metrics") {
        out.metrics = read_listen(v, "observer.metrics");
      } else if (key == "metrics_access") {
        read_access(v, out);
      } else if (key == "nodes") {
        read_nodes(v, out);
      } else {
        add_error(k.source(), join_key("observer", key),
                  fmt::format("unknown key {}; expected metrics, metrics_access or "
                              "[observer.nodes.NAME]",
                              quote(key)));
      }
    }
    return out;
  }

private:
  void add_error(const toml::source_region& at, std::string key, std::string message) {
    errors_.push_back(system_file_error{path_, static_cast<int>(at.begin.line),
                                        static_cast<int>(at.begin.column), std::move(key),
                                        std::move(message)});
  }

  // "HOST:PORT" where a process serves its metrics.
  std::optional<observer_metrics_listen> read_listen(const toml::node& node,
                                                     const std::string& key) {
    const auto* text = node.as_string();
    auto parsed = text != nullptr ? parse_listen(text->get()) : std::nullopt;
    if (!parsed) {
      add_error(node.source(), key,
                fmt::format("expected an address to serve GET /metrics on, as \"HOST:PORT\" "
                            "(\"127.0.0.1:9464\"; port 0 = the OS chooses), got {}",
                            describe_value(node)));
      return std::nullopt;
    }
    return observer_metrics_listen{parsed->host, parsed->port,
                                   static_cast<int>(node.source().begin.line),
                                   static_cast<int>(node.source().begin.column)};
  }

  void read_access(const toml::node& node, observer_config& out) {
    const auto* text = node.as_string();
    if (text != nullptr && (text->get() == "open" || text->get() == "admin")) {
      out.metrics_need_token = text->get() == "admin";
      out.access_line = static_cast<int>(node.source().begin.line);
      return;
    }
    add_error(node.source(), "observer.metrics_access",
              fmt::format("expected \"open\" (anyone may GET /metrics) or \"admin\" (bearers of "
                          "the admin token), got {}",
                          describe_value(node)));
  }

  // [observer.nodes.NAME] tables, each with `metrics`.
  void read_nodes(const toml::node& node, observer_config& out) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      add_error(
        node.source(), "observer.nodes",
        fmt::format("expected [observer.nodes.NAME] tables, got {}", type_description(node)));
      return;
    }
    for (auto&& [k, v] : *table) {
      const std::string name{k.str()};
      const std::string key = join_key("observer.nodes", name);
      const bool declared = std::any_of(nodes_.begin(), nodes_.end(),
                                        [&](const node_config& n) { return n.name == name; });
      if (!declared) {
        std::vector<std::string> names;
        for (const auto& n : nodes_)
          names.push_back(n.name);
        add_error(k.source(), key,
                  fmt::format("no node {} in this file; expected the name of a [nodes.NAME] "
                              "table ({})",
                              quote(name),
                              names.empty() ? std::string{"the file has none"}
                                            : fmt::format("{}", fmt::join(names, ", "))));
        continue;
      }
      const auto* entry = v.as_table();
      if (entry == nullptr) {
        add_error(v.source(), key,
                  fmt::format("expected a table with metrics = \"HOST:PORT\", got {}",
                              type_description(v)));
        continue;
      }
      for (auto&& [ek, ev] : *entry) {
        if (ek.str() == "metrics") {
          if (auto listen = read_listen(ev, join_key(key, "metrics")))
            out.node_metrics[name] = *listen;
        } else {
          add_error(ek.source(), join_key(key, ek.str()),
                    fmt::format("unknown key {}; expected metrics", quote(ek.str())));
        }
      }
    }
  }

  const toml::table& table_;
  const std::string& path_;
  const std::vector<node_config>& nodes_;
  std::vector<system_file_error>& errors_;
};

} // namespace

observer_config read_observer_settings(const toml::table& table, const std::string& path,
                                       const std::vector<node_config>& nodes,
                                       std::vector<system_file_error>& errors) {
  return observer_reader{table, path, nodes, errors}.read();
}

} // namespace detail

} // namespace microlith
