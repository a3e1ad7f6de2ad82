#include "server/http_server.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <spdlog/spdlog.h>

#include "server/auth.h"
#include "server/request_reader.h"
#include "server/response_writer.h"
#include "xgdb/error.h"

namespace xgdb::server {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;
using Clock = std::chrono::steady_clock;
using rpc::ProtocolVersion;

namespace {

// At most one log line a second for one kind of event, so that a client
// retrying against a full disk, or a flood of connections, cannot fill the
// log (and the journal on the same disk). Due() says whether a line is due
// now and how many were left out since the last one.
class LogLimiter {
 public:
  bool Due(size_t* left_out) {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (logged_ && now - last_ < std::chrono::seconds(1)) {
      ++left_out_;
      return false;
    }
    logged_ = true;
    last_ = now;
    *left_out = left_out_;
    left_out_ = 0;
    return true;
  }

 private:
  std::mutex mu_;
  bool logged_ = false;
  std::chrono::steady_clock::time_point last_;
  size_t left_out_ = 0;
};

void LogErrorAnswer(const std::string& peer, const std::string& error) {
  static LogLimiter limiter;
  size_t left_out = 0;
  if (!limiter.Due(&left_out)) return;
  spdlog::warn("{}: answering 500: {}{}", peer, error,
               left_out > 0 ? " (" + std::to_string(left_out) + " more 500 answers meanwhile)" : "");
}

void LogRefusedConnection(size_t limit) {
  static LogLimiter limiter;
  size_t left_out = 0;
  if (!limiter.Due(&left_out)) return;
  spdlog::warn("refusing connections: {} open, the most the file limit leaves room for", limit);
}

// The connection limit: the file limit less what the store needs.
size_t ConnectionLimit(size_t configured) {
  if (configured > 0) return configured;
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1u << 20;
  size_t files = static_cast<size_t>(rl.rlim_cur);
  return files > 2 * kReservedFiles ? files - kReservedFiles : files / 2;
}

// True when something accepts connections on the unix socket `path`: a
// live server, whose socket must not be taken over (a stale file of a dead
// one refuses with ECONNREFUSED).
bool SocketAnswers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  bool answers = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return answers;
}

}  // namespace

namespace {

// Handlers are chosen by the longest prefix of the path, as in xapi
// (radix_tree.ml). The stand-alone server's paths are served as aliases.
std::optional<ProtocolVersion> Route(const std::string& path) {
  struct Entry {
    std::string_view prefix;
    ProtocolVersion version;
  };
  static constexpr Entry kRoutes[] = {
      {"/remote_db_access_v2", ProtocolVersion::kV2},
      {"/post_remote_db_access_v2", ProtocolVersion::kV2},
      {"/remote_db_access", ProtocolVersion::kV1},
      {"/post_remote_db_access", ProtocolVersion::kV1},
      {"/xapi_gitdb/peer", ProtocolVersion::kPeer},
      {"/xapi_gitdb", ProtocolVersion::kExtension},
  };
  for (const Entry& e : kRoutes) {  // longer prefixes first
    if (path.compare(0, e.prefix.size(), e.prefix) == 0) return e.version;
  }
  return std::nullopt;
}

}  // namespace

struct HttpServer::Impl {
  // Destruction runs bottom-up: threads and the handler pool go first, then
  // the acceptors, then the io_context (which destroys any connection still
  // queued in it, and those touch `connections`, declared above it).
  ServerOptions options;
  Handler handler;
  std::atomic<size_t> connections{0};
  size_t max_connections = 0;  // ConnectionLimit(), set by Start()
  // Requests handed to the handler whose answer is not written yet: Stop()
  // lets them finish (a long poll answered at shutdown still reaches its
  // client).
  std::atomic<int> answers_pending{0};
  // Keeps the I/O threads running while no operation is outstanding (a
  // connection waiting for a late answer has none).
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::unique_ptr<SecretChecker> secrets;
  std::unique_ptr<ssl::context> tls;
  asio::io_context ioc;
  std::unique_ptr<unix_socket::acceptor> unix_acceptor;
  std::pair<dev_t, ino_t> unix_inode{};  // the socket file we bound
  std::unique_ptr<tcp::acceptor> tcp_acceptor;
  std::unique_ptr<asio::steady_timer> unix_retry, tcp_retry;
  std::unique_ptr<asio::thread_pool> handler_pool;
  std::vector<std::thread> threads;
  uint16_t bound_port = 0;
  bool started = false;
  bool stopped = false;

  template <class Acceptor>
  void Accept(Acceptor& acceptor, asio::steady_timer& retry, bool is_tcp);
};

namespace {

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& server, Stream stream, bool is_tcp, std::string peer)
      : server_(server),
        stream_(std::move(stream)),
        timer_(stream_.get_executor()),
        is_tcp_(is_tcp),
        peer_(std::move(peer)),
        reader_(is_tcp ? server.options.max_header_bytes_tcp
                       : server.options.max_header_bytes_unix) {
    ++server_.connections;
  }
  ~Session() { --server_.connections; }

  void Start() {
    head_deadline_ = Clock::now() + std::chrono::milliseconds(server_.options.first_head_timeout_ms);
    if constexpr (std::is_same_v<Stream, ssl::stream<tcp::socket>>) {
      ArmTimer(ReadDeadline(true));
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](boost::system::error_code ec) {
                                self->DisarmTimer();
                                if (ec) {
                                  spdlog::info("{}: TLS handshake failed: {}", self->peer_,
                                               ec.message());
                                  return self->Close();
                                }
                                self->Process();
                              });
    } else {
      Process();
    }
  }

 private:
  // The deadline of the next read: per-read timeout, and for the first
  // request's head also the total head timeout.
  Clock::time_point ReadDeadline(bool head_phase) const {
    auto t = Clock::now() + std::chrono::milliseconds(server_.options.read_timeout_ms);
    if (head_phase && first_ && head_deadline_ < t) t = head_deadline_;
    return t;
  }

  // The timer cancels the pending socket operation when it fires; the
  // generation tells a stale expiry (its operation already completed) apart.
  void ArmTimer(Clock::time_point deadline) {
    uint64_t gen = ++timer_gen_;
    timer_.expires_at(deadline);
    timer_.async_wait([self = this->shared_from_this(), gen](boost::system::error_code ec) {
      if (ec || gen != self->timer_gen_) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->stream_.lowest_layer().cancel(ignored);
    });
  }
  void DisarmTimer() {
    ++timer_gen_;
    timer_.cancel();
  }

  void Process() {
    if (!first_ && buf_.empty()) return Read(std::nullopt);  // idle: no timeout
    RequestReader::Status status = reader_.Parse(buf_, !consumed_any_);
    if (status == RequestReader::Status::kNeedMore) return Read(ReadDeadline(true));
    if (status == RequestReader::Status::kTooLarge) {
      spdlog::warn("{}: request header block over the limit", peer_);
      return Fail(431, 1);
    }
    if (status == RequestReader::Status::kMalformed) {
      spdlog::warn("{}: malformed request head", peer_);
      return Fail(500, 1);
    }
    const RequestHead& head = reader_.head();
    if (head.method != "POST") {
      spdlog::info("{}: {} {} not served", peer_, head.method, head.path);
      return Fail(501, head.http_minor);
    }
    std::optional<ProtocolVersion> version = Route(head.path);
    if (!version) {
      spdlog::info("{}: unknown path {}", peer_, head.path);
      return Fail(403, head.http_minor);
    }
    if (is_tcp_) {
      SecretChecker::Verdict verdict = server_.secrets
                                           ? server_.secrets->Check(head.cookie)
                                           : SecretChecker::Verdict::kMissing;
      if (verdict == SecretChecker::Verdict::kMissing) {
        spdlog::warn("{}: request without pool_secret", peer_);
        return Fail(401, head.http_minor);
      }
      if (verdict == SecretChecker::Verdict::kWrong) {
        spdlog::warn("{}: request with a wrong pool_secret", peer_);
        return Fail(403, head.http_minor);
      }
    }
    if (!head.content_length) {
      spdlog::warn("{}: request without content-length", peer_);
      return Fail(500, head.http_minor);
    }
    size_t limit = *version == ProtocolVersion::kPeer ? server_.options.max_peer_body_bytes
                                                      : server_.options.max_body_bytes;
    if (*head.content_length > limit) {
      spdlog::warn("{}: request body of {} bytes is over the limit of {}", peer_,
                   *head.content_length, limit);
      return Fail(500, head.http_minor);
    }
    size_t need = reader_.head_bytes() + *head.content_length;
    if (buf_.size() < need) return Read(ReadDeadline(false));
    std::string body = buf_.substr(reader_.head_bytes(), *head.content_length);
    buf_.erase(0, need);
    consumed_any_ = true;
    Dispatch(*version, head, std::move(body));
  }

  void Read(std::optional<Clock::time_point> deadline) {
    if (deadline) ArmTimer(*deadline);
    stream_.async_read_some(
        asio::buffer(chunk_),
        [self = this->shared_from_this()](boost::system::error_code ec, size_t n) {
          self->DisarmTimer();
          if (ec) {
            if (self->timed_out_) {
              spdlog::info("{}: request timed out", self->peer_);
              return self->Fail(408, 1);
            }
            if (!self->buf_.empty()) {
              spdlog::info("{}: connection ended mid-request ({})", self->peer_, ec.message());
            }
            return self->Close();
          }
          self->buf_.append(self->chunk_.data(), n);
          self->Process();
        });
  }

  void Dispatch(ProtocolVersion version, const RequestHead& head, std::string body) {
    framed_ = head.framed;
    http_minor_ = head.http_minor;
    keep_alive_ = head.keep_alive;
    Request request{version, std::move(body), head.task, head.lock};
    ++server_.answers_pending;
    answer_counted_ = true;
    auto run = [self = this->shared_from_this(), request = std::move(request)]() mutable {
      // The answer may come from any thread, later: hop back onto the
      // connection's executor before touching the connection.
      auto respond = [self](rpc::RpcResult result) {
        asio::post(self->stream_.get_executor(),
                   [self, result = std::move(result)]() { self->Respond(result); });
      };
      try {
        self->server_.handler(std::move(request), respond);
      } catch (const std::exception& e) {
        respond(rpc::RpcResult{500, "", e.what()});
      }
    };
    answered_ = false;
    if (server_.handler_pool) {
      asio::post(*server_.handler_pool, std::move(run));
    } else {
      run();
    }
    // An answer may take minutes (an Event_from long poll): notice a client
    // that goes away meanwhile and give its descriptor back at once. Not on
    // TLS, where cancelling a read in the middle of a record would break the
    // stream.
    if constexpr (!std::is_same_v<Stream, ssl::stream<tcp::socket>>) {
      if (!answered_) WatchForHangup();
    }
  }

  // Reads while the answer is pending: bytes are kept (a pipelined next
  // request), end of stream or an error means the client is gone.
  void WatchForHangup() {
    watching_ = true;
    stream_.async_read_some(
        asio::buffer(chunk_),
        [self = this->shared_from_this()](boost::system::error_code ec, size_t n) {
          self->watching_ = false;
          if (!ec) self->buf_.append(self->chunk_.data(), n);
          if (!self->answered_) {
            if (!ec) return self->WatchForHangup();
            spdlog::debug("{}: client went away before its answer ({})", self->peer_,
                          ec.message());
            self->gone_ = true;
            return self->Close();
          }
          if (self->resume_after_watch_) {  // the answer was written meanwhile
            self->resume_after_watch_ = false;
            self->Process();
          }
        });
  }

  void Respond(const rpc::RpcResult& result) {
    answered_ = true;
    if (gone_) {  // nobody to answer: only the bookkeeping
      if (answer_counted_) {
        answer_counted_ = false;
        --server_.answers_pending;
      }
      return;
    }
    if (watching_) {
      boost::system::error_code ignored;
      stream_.lowest_layer().cancel(ignored);  // the watch ends; its bytes are kept
    }
    if (result.status == 200) {
      out_ = FormatOkResponse(framed_, http_minor_, keep_alive_, result.body);
      close_after_write_ = !keep_alive_;
    } else {
      LogErrorAnswer(peer_, result.error);
      out_ = FormatErrorResponse(500, http_minor_);
      close_after_write_ = true;
    }
    Write();
  }

  void Fail(int status, int http_minor) {
    out_ = FormatErrorResponse(status, http_minor);
    close_after_write_ = true;
    timed_out_ = false;
    Write();
  }

  void Write() {
    // A client that stops reading must not hold a thread or the connection
    // for ever.
    ArmTimer(Clock::now() + std::chrono::milliseconds(6 * server_.options.read_timeout_ms));
    asio::async_write(stream_, asio::buffer(out_),
                      [self = this->shared_from_this()](boost::system::error_code ec, size_t) {
                        self->DisarmTimer();
                        if (self->answer_counted_) {
                          self->answer_counted_ = false;
                          --self->server_.answers_pending;
                        }
                        if (ec || self->close_after_write_) return self->Close();
                        self->first_ = false;
                        if (self->watching_) {  // its handler goes on from here
                          self->resume_after_watch_ = true;
                          return;
                        }
                        self->Process();
                      });
  }

  void Close() {
    DisarmTimer();
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
  }

  HttpServer::Impl& server_;
  Stream stream_;
  asio::steady_timer timer_;
  uint64_t timer_gen_ = 0;
  bool timed_out_ = false;
  bool is_tcp_;
  std::string peer_;
  RequestReader reader_;
  std::string buf_;            // received, not yet consumed
  std::array<char, 16384> chunk_;
  bool first_ = true;          // still on the connection's first request
  bool consumed_any_ = false;  // a PROXY line is only allowed before this
  Clock::time_point head_deadline_;
  bool framed_ = false, keep_alive_ = true, close_after_write_ = false;
  bool answer_counted_ = false;  // counted in answers_pending until written
  bool answered_ = true;          // the handler has answered the last request
  bool watching_ = false;         // WatchForHangup's read is pending
  bool resume_after_watch_ = false;
  bool gone_ = false;             // the client hung up before its answer
  int http_minor_ = 1;
  std::string out_;
};

std::string PeerName(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "tcp:?";
  return "tcp:" + ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

template <class Acceptor>
void HttpServer::Impl::Accept(Acceptor& acceptor, asio::steady_timer& retry, bool is_tcp) {
  acceptor.async_accept(
      asio::make_strand(ioc),
      [this, &acceptor, &retry, is_tcp](boost::system::error_code ec,
                                        typename Acceptor::protocol_type::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) {
          // Out of file descriptors (thousands of clients): wait a little
          // instead of spinning; existing connections keep being served.
          spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
          retry.expires_after(std::chrono::milliseconds(100));
          retry.async_wait([this, &acceptor, &retry, is_tcp](boost::system::error_code e) {
            if (!e) Accept(acceptor, retry, is_tcp);
          });
          return;
        }
        if (connections.load() >= max_connections) {
          // Out of descriptors we may give to clients: refuse this one (a
          // client retries), never the store's commits.
          LogRefusedConnection(max_connections);
          boost::system::error_code ignored;
          socket.close(ignored);
          return Accept(acceptor, retry, is_tcp);
        }
        if constexpr (std::is_same_v<Acceptor, tcp::acceptor>) {
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          std::string peer = PeerName(socket);
          if (tls) {
            ssl::stream<tcp::socket> stream(std::move(socket), *tls);
            std::make_shared<Session<ssl::stream<tcp::socket>>>(*this, std::move(stream), true,
                                                                std::move(peer))
                ->Start();
          } else {
            std::make_shared<Session<tcp::socket>>(*this, std::move(socket), true,
                                                   std::move(peer))
                ->Start();
          }
        } else {
          std::make_shared<Session<unix_socket::socket>>(*this, std::move(socket), false, "unix")
              ->Start();
        }
        Accept(acceptor, retry, is_tcp);
      });
}

Handler Synchronous(std::function<rpc::RpcResult(const Request&)> answer) {
  return [answer = std::move(answer)](Request request, Responder respond) {
    respond(answer(request));
  };
}

HttpServer::HttpServer(ServerOptions options, Handler handler) : impl_(new Impl) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Start() {
  Impl& s = *impl_;
  if (s.started) throw Error(ErrorKind::kInvalidArgument, "server already started");
  s.started = true;
  const ServerOptions& o = s.options;
  if (o.unix_socket.empty() && !o.tcp) {
    throw Error(ErrorKind::kInvalidArgument, "no listener configured (unix socket or TCP)");
  }
  s.max_connections = ConnectionLimit(o.max_connections);
  boost::system::error_code ec;
  if (!o.unix_socket.empty()) {
    struct stat st;
    if (::lstat(o.unix_socket.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        throw Error(ErrorKind::kInvalidArgument,
                    o.unix_socket + " exists and is not a socket; not replacing it");
      }
      if (SocketAnswers(o.unix_socket)) {
        throw Error(ErrorKind::kBusy, o.unix_socket +
                                          " is served by another process (it accepts "
                                          "connections); not taking it over");
      }
      ::unlink(o.unix_socket.c_str());  // stale socket of an earlier run
    }
    s.unix_acceptor = std::make_unique<unix_socket::acceptor>(s.ioc);
    s.unix_acceptor->open(unix_socket(), ec);
    // The socket file is created by bind(); a umask makes it 0600 from the
    // first moment instead of chmod-ing it afterwards.
    mode_t old_mask = ::umask(0177);
    if (!ec) s.unix_acceptor->bind(unix_socket::endpoint(o.unix_socket), ec);
    ::umask(old_mask);
    if (!ec) s.unix_acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw Error(ErrorKind::kIo, "cannot listen on " + o.unix_socket + ": " + ec.message());
    }
    struct stat mine {};
    if (::lstat(o.unix_socket.c_str(), &mine) == 0) s.unix_inode = {mine.st_dev, mine.st_ino};
    s.unix_retry = std::make_unique<asio::steady_timer>(s.ioc);
    spdlog::info("listening on unix socket {}", o.unix_socket);
  }
  if (o.tcp) {
    if (!o.secret_files.empty()) s.secrets = std::make_unique<SecretChecker>(o.secret_files);
    if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
      s.tls = std::make_unique<ssl::context>(ssl::context::tls_server);
      s.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
      s.tls->use_certificate_chain_file(o.tls_cert_file, ec);
      if (!ec) s.tls->use_private_key_file(o.tls_key_file, ssl::context::pem, ec);
      if (ec) {
        throw Error(ErrorKind::kInvalidArgument,
                    "cannot load TLS certificate/key " + o.tls_cert_file + " / " +
                        o.tls_key_file + ": " + ec.message());
      }
    }
    auto address = asio::ip::make_address(o.tcp_address, ec);
    if (ec) throw Error(ErrorKind::kInvalidArgument, "bad TCP address " + o.tcp_address);
    tcp::endpoint endpoint(address, o.tcp_port);
    s.tcp_acceptor = std::make_unique<tcp::acceptor>(s.ioc);
    s.tcp_acceptor->open(endpoint.protocol(), ec);
    if (!ec) s.tcp_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s.tcp_acceptor->bind(endpoint, ec);
    if (!ec) s.tcp_acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw Error(ErrorKind::kIo, "cannot listen on " + o.tcp_address + ":" +
                                      std::to_string(o.tcp_port) + ": " + ec.message());
    }
    s.bound_port = s.tcp_acceptor->local_endpoint().port();
    s.tcp_retry = std::make_unique<asio::steady_timer>(s.ioc);
    spdlog::info("listening on tcp {}:{}{}{}", o.tcp_address, s.bound_port,
                 s.tls ? " (TLS)" : "",
                 s.secrets ? "" : " (no secret configured: every request is refused)");
  }
  if (s.unix_acceptor) s.Accept(*s.unix_acceptor, *s.unix_retry, false);
  if (s.tcp_acceptor) s.Accept(*s.tcp_acceptor, *s.tcp_retry, true);
  if (o.handler_threads > 0) {
    s.handler_pool = std::make_unique<asio::thread_pool>(static_cast<size_t>(o.handler_threads));
  }
  s.keep_running.emplace(s.ioc.get_executor());
  int n = o.io_threads > 0 ? o.io_threads : 2;
  for (int i = 0; i < n; ++i) {
    s.threads.emplace_back([&s] {
      for (;;) {
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& e) {
          // A bug in a handler must not take the whole daemon down.
          spdlog::error("unexpected exception in the I/O loop: {}", e.what());
        }
      }
    });
  }
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  // Stop taking connections, then give answers already on their way (a
  // long poll answered at shutdown, a write finishing) a moment to reach
  // their clients before every connection is dropped.
  asio::post(s.ioc, [&s] {
    boost::system::error_code ignored;
    if (s.unix_acceptor) s.unix_acceptor->close(ignored);
    if (s.tcp_acceptor) s.tcp_acceptor->close(ignored);
  });
  auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (s.answers_pending.load() > 0 && std::chrono::steady_clock::now() < grace_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  s.keep_running.reset();
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  if (s.handler_pool) {
    s.handler_pool->stop();
    s.handler_pool->join();
  }
  boost::system::error_code ignored;
  if (s.unix_acceptor) {
    s.unix_acceptor->close(ignored);
    // Only our own socket file: another process may have replaced it.
    struct stat now {};
    if (::lstat(s.options.unix_socket.c_str(), &now) == 0 &&
        std::make_pair(now.st_dev, now.st_ino) == s.unix_inode) {
      ::unlink(s.options.unix_socket.c_str());
    }
  }
  if (s.tcp_acceptor) s.tcp_acceptor->close(ignored);
  spdlog::info("server stopped");
}

uint16_t HttpServer::tcp_port() const { return impl_->bound_port; }

size_t HttpServer::open_connections() const { return impl_->connections.load(); }

}  // namespace xgdb::server
