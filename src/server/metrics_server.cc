#include "server/metrics_server.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "xgdb/error.h"

namespace xgdb::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct MetricsServer::Impl {
  std::string address;
  uint16_t port = 0;
  std::function<std::string()> render;
  // Connections count themselves here until they die, which may be when
  // the io_context below is destroyed: declared before it.
  std::atomic<int> connections{0};
  asio::io_context ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
  bool started = false, stopped = false;

  void Accept();
};

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);

class MetricsConnection : public std::enable_shared_from_this<MetricsConnection> {
 public:
  MetricsConnection(MetricsServer::Impl& server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)) {
    ++server_.connections;
  }
  ~MetricsConnection() { --server_.connections; }

  void Read() {
    parser_.emplace();
    parser_->header_limit(8192);
    parser_->body_limit(4096);
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->Answer(self->parser_->release());
                     });
  }

 private:
  void Answer(const http::request<http::string_body>& request) {
    response_ = {};
    response_.version(request.version());
    response_.keep_alive(request.keep_alive());
    response_.set(http::field::server, "xapi-gitdb");
    const bool get = request.method() == http::verb::get;
    if (!get && request.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.body() = "only GET /metrics is served here\n";
    } else if (request.target() != "/metrics") {
      response_.result(http::status::not_found);
      response_.body() = "only GET /metrics is served here\n";
    } else {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      try {
        response_.body() = server_.render();
      } catch (const std::exception& e) {
        spdlog::warn("metrics: cannot render: {}", e.what());
        response_.result(http::status::internal_server_error);
        response_.body() = std::string(e.what()) + "\n";
      }
    }
    response_.prepare_payload();
    if (!get) response_.body().clear();  // HEAD: the length of what GET sends
    stream_.expires_after(kRequestTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec || !self->response_.keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  MetricsServer::Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

void MetricsServer::Impl::Accept() {
  acceptor->async_accept(ioc, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (!ec) {
      if (connections.load() >= kMaxMetricsConnections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<MetricsConnection>(*this, std::move(socket))->Read();
      }
    }
    Accept();
  });
}

MetricsServer::MetricsServer(std::string address, uint16_t port,
                             std::function<std::string()> render)
    : impl_(new Impl) {
  impl_->address = std::move(address);
  impl_->port = port;
  impl_->render = std::move(render);
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Start() {
  Impl& s = *impl_;
  beast::error_code ec;
  auto address = asio::ip::make_address(s.address, ec);
  if (ec) throw Error(ErrorKind::kInvalidArgument, "bad metrics address " + s.address);
  tcp::endpoint endpoint(address, s.port);
  s.acceptor = std::make_unique<tcp::acceptor>(s.ioc);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error(ErrorKind::kIo, "cannot serve metrics on " + s.address + ":" +
                                    std::to_string(s.port) + ": " + ec.message());
  }
  s.port = s.acceptor->local_endpoint().port();
  s.started = true;
  s.Accept();
  s.thread = std::thread([&s] {
    for (;;) {
      try {
        s.ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("metrics: unexpected exception: {}", e.what());
      }
    }
  });
  spdlog::info("serving metrics on http://{}:{}/metrics", s.address, s.port);
}

void MetricsServer::Stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.ioc.stop();
  s.thread.join();
  beast::error_code ignored;
  s.acceptor->close(ignored);
}

uint16_t MetricsServer::port() const { return impl_->port; }

}  // namespace xgdb::server
