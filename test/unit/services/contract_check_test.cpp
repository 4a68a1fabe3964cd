// The code server's contract check: what loading a module version's contracts means in a process
// whose generated pool already holds contracts (here: the test contracts linked into this test).
#include "modules/contract_check.hpp"

#include "microlith/actors/error.hpp"
#include "proto/test.pb.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <catch2/catch.hpp>

#include <string>

namespace pb = google::protobuf;
using microlith::message_of;
using microlith::module_manifest;
using microlith::detail::check_contracts;

namespace {

// The generated pool's copy of the test contracts (test.proto), as a FileDescriptorProto.
pb::FileDescriptorProto loaded_test_proto() {
  pb::FileDescriptorProto file;
  microlith::test::PingRequest::descriptor()->file()->CopyTo(&file);
  microlith::test::PingRequest::descriptor()->file()->CopyJsonNameTo(&file);
  return file;
}

std::string set_of(std::initializer_list<pb::FileDescriptorProto> files) {
  pb::FileDescriptorSet set;
  for (const auto& f : files)
    *set.add_file() = f;
  return set.SerializeAsString();
}

module_manifest manifest_providing(std::initializer_list<std::string> provides) {
  module_manifest m;
  m.name = "test.module";
  m.version = "1.0.0";
  m.contracts = "contracts.desc";
  m.contracts_library = "lib/libmicrolith_contracts_0123456789abcdef.so";
  m.provides = provides;
  return m;
}

// A new file (absent from the pool) in its own package.
pb::FileDescriptorProto fresh_file(const std::string& name, const std::string& package) {
  pb::FileDescriptorProto file;
  file.set_name(name);
  file.set_package(package);
  file.set_syntax("proto3");
  auto* m = file.add_message_type();
  m->set_name("Statement");
  auto* f = m->add_field();
  f->set_name("text");
  f->set_number(1);
  f->set_type(pb::FieldDescriptorProto::TYPE_STRING);
  f->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
  return file;
}

} // namespace

TEST_CASE("a contract the process does not have yet is loaded from the module's contracts library",
          "[modules][contracts]") {
  auto file = fresh_file("acme/statements_check.proto", "acme.statements_check");
  auto plan =
    check_contracts(manifest_providing({file.name()}), set_of({file}), "test.module 1.0.0");
  REQUIRE(plan);
  CHECK(plan->load_library);
}

TEST_CASE("a contract already loaded with the same contents is reused, not loaded again",
          "[modules][contracts]") {
  auto file = loaded_test_proto();
  auto plan =
    check_contracts(manifest_providing({file.name()}), set_of({file}), "test.module 2.0.0");
  REQUIRE(plan);
  CHECK_FALSE(plan->load_library);
}

TEST_CASE("a changed contract under a loaded file name is refused, naming the file and the symbol",
          "[modules][contracts]") {
  auto file = loaded_test_proto();
  auto* ping = file.mutable_message_type(1); // PingRequest
  REQUIRE(ping->name() == "PingRequest");
  auto* added = ping->add_field();
  added->set_name("added_later");
  added->set_number(99);
  added->set_type(pb::FieldDescriptorProto::TYPE_STRING);
  added->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
  auto plan =
    check_contracts(manifest_providing({file.name()}), set_of({file}), "test.module 3.0.0");
  REQUIRE_FALSE(plan);
  auto text = message_of(plan.error());
  CHECK(text.find(file.name()) != std::string::npos);
  CHECK(text.find("microlith.test.PingRequest.added_later") != std::string::npos);
  CHECK(text.find("new proto package or file name") != std::string::npos);
}

TEST_CASE("a new contract file defining a symbol another file defines is refused",
          "[modules][contracts]") {
  auto file = fresh_file("elsewhere/copy_of_test.proto", "microlith.test");
  file.mutable_message_type(0)->set_name("PingRequest");
  auto plan =
    check_contracts(manifest_providing({file.name()}), set_of({file}), "test.module 1.0.0");
  REQUIRE_FALSE(plan);
  auto text = message_of(plan.error());
  CHECK(text.find("microlith.test.PingRequest") != std::string::npos);
  CHECK(text.find(loaded_test_proto().name()) != std::string::npos);
}

TEST_CASE("a contract a module uses must be in the process with the same contents",
          "[modules][contracts]") {
  auto own = fresh_file("acme/statements_uses.proto", "acme.statements_uses");
  SECTION("absent") {
    auto missing = fresh_file("bank/not_linked.proto", "bank.not_linked");
    auto plan =
      check_contracts(manifest_providing({own.name()}), set_of({missing, own}), "acme 1.0.0");
    REQUIRE_FALSE(plan);
    CHECK(message_of(plan.error()).find("bank/not_linked.proto, which this program does not have")
          != std::string::npos);
  }
  SECTION("present with other contents") {
    auto used = loaded_test_proto();
    used.mutable_message_type(0)->set_name("EmptyRenamed");
    auto plan =
      check_contracts(manifest_providing({own.name()}), set_of({used, own}), "acme 1.0.0");
    REQUIRE_FALSE(plan);
    CHECK(message_of(plan.error()).find("another version of contract " + used.name())
          != std::string::npos);
  }
  SECTION("present and identical") {
    auto plan = check_contracts(manifest_providing({own.name()}),
                                set_of({loaded_test_proto(), own}), "acme 1.0.0");
    REQUIRE(plan);
    CHECK(plan->load_library);
  }
}

TEST_CASE("a descriptor set that does not parse is refused naming the entry",
          "[modules][contracts]") {
  auto plan = check_contracts(manifest_providing({"x.proto"}), std::string("\xff\xff\xff", 3),
                              "test.module 1.0.0");
  REQUIRE_FALSE(plan);
  CHECK(message_of(plan.error()).find("contracts.desc is not a Protobuf FileDescriptorSet")
        != std::string::npos);
}
