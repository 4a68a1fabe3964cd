// The types of a handler, read off its member-function pointer: the state it belongs to, its
// request and its response. `service<State>::handle` uses them to check a handler at compile time
// and to fill its handler_entry.
#pragma once

#include "microlith/actors/call_context.hpp"
#include "microlith/actors/reply.hpp"

namespace microlith::detail {

template <class T>
struct handler_traits;

template <class State, class Resp, class Req>
struct handler_traits<reply<Resp> (State::*)(call_context&, const Req&)> {
  using state_type = State;
  using request_type = Req;
  using response_type = Resp;
};

template <class State, class Resp, class Req>
struct handler_traits<reply<Resp> (State::*)(call_context&, const Req&) const>
  : handler_traits<reply<Resp> (State::*)(call_context&, const Req&)> {};

template <class State, class Resp, class Req>
struct handler_traits<reply<Resp> (State::*)(call_context&, const Req&) noexcept>
  : handler_traits<reply<Resp> (State::*)(call_context&, const Req&)> {};

template <class State, class Resp, class Req>
struct handler_traits<reply<Resp> (State::*)(call_context&, const Req&) const noexcept>
  : handler_traits<reply<Resp> (State::*)(call_context&, const Req&)> {};

} // namespace microlith::detail
