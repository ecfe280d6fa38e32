// The agent's Unix-socket server: accepts clients, reads one JSON request per
// line, answers through AgentCore, and streams logs for `tail`. Clients may
// come and go at any time; jobs do not depend on them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <string>

#include "agent/agent_core.h"

namespace skycore::agent {

class AgentServer {
 public:
  AgentServer(boost::asio::io_context& io, AgentCore& core, std::string socket_path);
  ~AgentServer();

  // Binds and starts accepting. A stale socket file (nobody listening) is
  // replaced; a live one is an error (StateError): another agent serves it.
  void Start();
  // Stops accepting and removes the socket file.
  void Stop();

 private:
  void Accept();

  boost::asio::io_context& io_;
  AgentCore& core_;
  std::string socket_path_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace skycore::agent
