// The HTTP transport over real sockets: xapi's framing and answers byte for
// byte, the protocol vectors replayed through a real store, TCP auth, and a
// server that survives malformed and hostile clients.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rpc/dispatcher.h"
#include "server/client.h"
#include "server/http_server.h"
#include "support/paths.h"
#include "xgdb/error.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"
#include "xgdb/store.h"

namespace xgdb::server {
namespace {

using test::TempDir;

constexpr char kSecretA[] =
    "0d2c6e3a-9b1f-4e8d-a7c5-3f2e1d0c9b8a/5c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f/"
    "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918";
constexpr char kSecretB[] = "11111111-2222-3333-4444-555555555555/rotated/secret";

// What xapi answers to a framed or plain request with a 200 (spec 1.6),
// spelled out here independently of the server's writer.
std::string Expected200(const std::string& body, bool framed, bool keep_alive = true,
                        const char* version = "HTTP/1.1") {
  std::string head = std::string(version) + " 200 OK\r\ncontent-length: " +
                     std::to_string(body.size()) + "\r\nconnection: " +
                     (keep_alive ? "keep-alive" : "close") +
                     "\r\ncache-control: no-cache, no-store\r\n\r\n";
  if (!framed) return head + body;
  char frame[32];
  std::snprintf(frame, sizeof frame, "FRAME %012zu", head.size());
  return frame + head + body;
}

void RaiseFileLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// ---------------------------------------------------------------------------
// The transport alone, with a handler that echoes what it was given.

class TransportTest : public ::testing::Test {
 protected:
  void StartServer(bool tcp = false, int read_timeout_ms = 10000) {
    test::WriteFile(dir_ / "secret-a", std::string(kSecretA) + "\n");
    test::WriteFile(dir_ / "secret-b", kSecretB);
    ServerOptions o;
    o.unix_socket = socket_;
    o.tcp = tcp;
    o.secret_files = {dir_ / "secret-a", dir_ / "secret-b"};
    o.read_timeout_ms = read_timeout_ms;
    o.first_head_timeout_ms = 3 * read_timeout_ms;
    server_ = std::make_unique<HttpServer>(o, Synchronous([this](const Request& r) {
      ++calls_;
      if (r.body == "fail") return rpc::RpcResult{500, "", "asked to fail"};
      std::string prefix = r.version == rpc::ProtocolVersion::kV1 ? "v1:" : "v2:";
      return rpc::RpcResult{200, prefix + r.body, ""};
    }));
    server_->Start();
  }
  Connection Unix() { return Connection::Unix(socket_); }
  Connection Tcp() { return Connection::Tcp("127.0.0.1", server_->tcp_port()); }

  TempDir dir_;
  std::string socket_ = dir_ / "db.sock";
  std::unique_ptr<HttpServer> server_;
  std::atomic<int> calls_{0};
};

TEST_F(TransportTest, UnixSocketIsCreatedWithMode0600) {
  StartServer();
  struct stat st;
  ASSERT_EQ(0, ::stat(socket_.c_str(), &st));
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(0600u, st.st_mode & 0777);
}

TEST_F(TransportTest, StaleSocketFileIsReplacedAndRegularFileIsNot) {
  StartServer();
  server_.reset();  // leaves nothing behind...
  EXPECT_NE(0, ::access(socket_.c_str(), F_OK));
  test::WriteFile(socket_, "not a socket");
  ServerOptions o;
  o.unix_socket = socket_;
  HttpServer other(o, Synchronous([](const Request&) { return rpc::RpcResult{}; }));
  EXPECT_THROW(other.Start(), Error);
  EXPECT_EQ("not a socket", test::ReadFile(socket_));
}

TEST_F(TransportTest, FramedRequestGetsFramedAnswerByteForByte) {
  StartServer();
  Connection c = Unix();
  Answer a = c.Call("/remote_db_access", "<hello/>");
  EXPECT_EQ(Expected200("v1:<hello/>", true), a.raw);
  a = c.Call("/remote_db_access_v2", "[\"x\"]");
  EXPECT_EQ(Expected200("v2:[\"x\"]", true), a.raw);
}

TEST_F(TransportTest, PlainHttpLikeCurlGetsPlainAnswer) {
  StartServer();
  Connection c = Unix();
  c.Send(
      "POST /post_remote_db_access_v2?trace=1 HTTP/1.1\r\nHost: localhost\r\n"
      "User-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Type: application/json\r\n"
      "Content-Length: 4\r\n\r\nbody");
  EXPECT_EQ(Expected200("v2:body", false), c.ReadAnswer().raw);
  c.Send("POST /post_remote_db_access HTTP/1.1\r\nCONTENT-LENGTH: 2\r\n\r\nhi");
  EXPECT_EQ(Expected200("v1:hi", false), c.ReadAnswer().raw);
}

TEST_F(TransportTest, ProxyLineIsAcceptedOnlyAtTheStart) {
  StartServer();
  Connection c = Unix();
  c.Send("PROXY TCP4 192.0.2.1 192.0.2.2 50000 80\r\n" + XapiRequest("/remote_db_access", "a"));
  EXPECT_EQ(Expected200("v1:a", true), c.ReadAnswer().raw);
  // The second request may not carry one: xapi fails to parse it.
  c.Send("PROXY TCP4 192.0.2.1 192.0.2.2 50000 80\r\n" + XapiRequest("/remote_db_access", "b"));
  Answer bad = c.ReadAnswer();
  EXPECT_EQ(500, bad.status);
  EXPECT_TRUE(c.ClosedWithin(2000));
}

TEST_F(TransportTest, ManyRequestsOnOnePersistentConnection) {
  StartServer();
  Connection c = Unix();
  for (int i = 0; i < 500; ++i) {
    std::string body = "request " + std::to_string(i);
    Answer a = c.Call("/remote_db_access", body, "", /*framed=*/i % 2 == 0);
    ASSERT_EQ(Expected200("v1:" + body, i % 2 == 0), a.raw) << i;
  }
  // Two requests sent back to back are answered in order.
  c.Send(XapiRequest("/remote_db_access", "one") + XapiRequest("/remote_db_access", "two", "", false));
  EXPECT_EQ("v1:one", c.ReadAnswer().body);
  EXPECT_EQ(Expected200("v1:two", false), c.ReadAnswer().raw);
  EXPECT_EQ(502, calls_.load());
}

TEST_F(TransportTest, Http10ClosesUnlessKeepAliveIsAsked) {
  StartServer();
  Connection c = Unix();
  c.Send("POST /remote_db_access HTTP/1.0\r\ncontent-length: 1\r\n\r\nx");
  EXPECT_EQ(Expected200("v1:x", false, false, "HTTP/1.0"), c.ReadAnswer().raw);
  EXPECT_TRUE(c.ClosedWithin(2000));

  Connection k = Unix();
  k.Send("POST /remote_db_access HTTP/1.0\r\nConnection: keep-alive\r\ncontent-length: 1\r\n\r\ny");
  EXPECT_EQ(Expected200("v1:y", false, true, "HTTP/1.0"), k.ReadAnswer().raw);
  EXPECT_FALSE(k.ClosedWithin(200));

  Connection h = Unix();
  h.Send("POST /remote_db_access HTTP/1.1\r\nconnection: close\r\ncontent-length: 1\r\n\r\nz");
  EXPECT_EQ(Expected200("v1:z", false, false), h.ReadAnswer().raw);
  EXPECT_TRUE(h.ClosedWithin(2000));
}

TEST_F(TransportTest, NothingIsSentBeforeARequest) {
  StartServer();
  Connection c = Unix();
  // xapi's client counts any early byte (or an early close) as a failure.
  EXPECT_FALSE(c.ReadableWithin(300));
  EXPECT_EQ("v1:late", c.Call("/remote_db_access", "late").body);
}

TEST_F(TransportTest, TcpNeedsThePoolSecretCookie) {
  StartServer(/*tcp=*/true);
  {
    Connection c = Tcp();
    c.Send(XapiRequest("/remote_db_access", "x"));
    Answer a = c.ReadAnswer();
    EXPECT_EQ(401, a.status);
    EXPECT_NE(std::string::npos,
              a.raw.find("WWW-Authenticate: Basic realm=\"post_remote_db_access\"\r\n"));
    EXPECT_NE(std::string::npos, a.raw.find("connection: close\r\n"));
    EXPECT_TRUE(c.ClosedWithin(2000));
  }
  {
    Connection c = Tcp();
    c.Send(XapiRequest("/remote_db_access", "x", "not-the-secret"));
    EXPECT_EQ(403, c.ReadAnswer().status);
    EXPECT_TRUE(c.ClosedWithin(2000));
  }
  for (const char* secret : {kSecretA, kSecretB}) {
    Connection c = Tcp();
    EXPECT_EQ(Expected200("v1:x", true), c.Call("/remote_db_access", "x", secret).raw);
    EXPECT_EQ(200, c.Call("/remote_db_access_v2", "y", secret).status);
  }
  // Other cookies around it, separated by "; " as browsers do.
  Connection c = Tcp();
  c.Send("POST /remote_db_access HTTP/1.1\r\nCookie: a=b; pool_secret=" + std::string(kSecretB) +
         "; c=d\r\ncontent-length: 1\r\n\r\nq");
  EXPECT_EQ(200, c.ReadAnswer().status);
  EXPECT_EQ(3 * 1 + 2 * 2 - 2, calls_.load() - 0);
  // The unix socket needs no credentials.
  EXPECT_EQ(200, Unix().Call("/remote_db_access", "x").status);
}

TEST_F(TransportTest, RotatedSecretFileIsPickedUpWithoutRestart) {
  StartServer(/*tcp=*/true);
  std::string fresh = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/new/secret-of-rotation";
  EXPECT_EQ(403, Tcp().Call("/remote_db_access", "x", fresh).status);
  test::WriteFile(dir_ / "secret-b", fresh + "\n");
  EXPECT_EQ(200, Tcp().Call("/remote_db_access", "x", fresh).status);
  EXPECT_EQ(403, Tcp().Call("/remote_db_access", "x", kSecretB).status);
  EXPECT_EQ(200, Tcp().Call("/remote_db_access", "x", kSecretA).status);
}

TEST_F(TransportTest, UnknownPathIs403AndOtherMethods501) {
  StartServer();
  Connection c = Unix();
  Answer a = c.Call("/", "x");
  EXPECT_EQ(403, a.status);
  EXPECT_NE(std::string::npos, a.raw.find("content-type: text/html\r\n"));
  EXPECT_TRUE(c.ClosedWithin(2000));
  Connection g = Unix();
  g.Send("GET /remote_db_access HTTP/1.1\r\n\r\n");
  EXPECT_EQ(501, g.ReadAnswer().status);
  EXPECT_EQ(0, calls_.load());
}

// Long polls (event.from) answer later, from another thread, without
// holding a server thread; the task header and our own path reach the
// handler.
TEST_F(TransportTest, HandlerMayAnswerLaterAndSeesTaskHeaderAndExtensionPath) {
  ServerOptions o;
  o.unix_socket = socket_;
  std::vector<std::thread> answerers;
  std::mutex mu;
  HttpServer server(o, [&](Request r, Responder respond) {
    std::string what = (r.version == rpc::ProtocolVersion::kExtension ? "ext:" : "db:") +
                       r.task + ":" + r.body;
    std::lock_guard<std::mutex> lock(mu);
    answerers.emplace_back([what, respond] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      respond(rpc::RpcResult{200, what, ""});
    });
  });
  server.Start();
  Connection c = Unix();
  c.Send("POST /xapi_gitdb HTTP/1.1\r\ncontent-length: 2\r\n\r\n[]");
  EXPECT_EQ("ext::[]", c.ReadAnswer().body);
  c.Send("POST /remote_db_access_v2 HTTP/1.1\r\nx-xgdb-task: OpaqueRef:t1\r\n"
         "content-length: 1\r\n\r\nq");
  EXPECT_EQ("db:OpaqueRef:t1:q", c.ReadAnswer().body);
  server.Stop();
  for (std::thread& t : answerers) t.join();
}

// A TCP listener with TLS from `cert` and `key`, asking for kSecretA (its
// secret file beside the certificate).
ServerOptions TlsOnTcp(const std::string& cert, const std::string& key) {
  test::WriteFile(cert.substr(0, cert.rfind('/')) + "/secret-a", std::string(kSecretA) + "\n");
  ServerOptions o;
  o.tcp = true;
  o.secret_files = {cert.substr(0, cert.rfind('/')) + "/secret-a"};
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  return o;
}

// TLS on the TCP port, checked with a real TLS client (curl) against a
// self-signed certificate made here: the secret still decides.
TEST_F(TransportTest, TlsOnTcpServesWithTheSecretAndRefusesWithout) {
  std::string cert = dir_ / "cert.pem", key = dir_ / "key.pem";
  test::CommandResult made = test::MakeCertificate("localhost", cert, key);
  ASSERT_EQ(0, made.exit_code) << made.output;
  ServerOptions o = TlsOnTcp(cert, key);
  HttpServer server(o, Synchronous([](const Request& r) {
    return rpc::RpcResult{200, "tls:" + r.body, ""};
  }));
  server.Start();
  std::string url = "https://127.0.0.1:" + std::to_string(server.tcp_port()) + "/remote_db_access";
  auto curl = [&](const std::string& extra) {
    return test::Run("curl -sk --max-time 10 -w ' %{http_code}' " + extra + " --data-binary hello " +
                     test::ShellQuote(url));
  };
  test::CommandResult ok = curl("--cookie " + test::ShellQuote(std::string("pool_secret=") + kSecretA));
  EXPECT_EQ(0, ok.exit_code) << ok.output;
  EXPECT_EQ("tls:hello 200", ok.output);
  std::string refused = curl("").output;
  EXPECT_EQ(" 401", refused.substr(refused.size() - 4)) << refused;
  // Plain HTTP on the TLS port gets no answer that a client could take for one.
  test::CommandResult plain = test::Run("curl -s --max-time 5 -w '%{http_code}' --data-binary x http://127.0.0.1:" +
                                        std::to_string(server.tcp_port()) + "/remote_db_access");
  EXPECT_EQ(std::string::npos, plain.output.find("200")) << plain.output;
}

// The client's side of TLS (peer calls): a server whose certificate is in
// the bundle answers; one that is not is refused before anything is sent.
TEST_F(TransportTest, TlsClientTrustsTheCertificatesOfItsBundleOnly) {
  auto make_certificate = [&](const std::string& name) {
    std::string cert = dir_ / (name + ".pem"), key = dir_ / (name + ".key");
    test::CommandResult made = test::MakeCertificate(name, cert, key);
    EXPECT_EQ(0, made.exit_code) << made.output;
    return std::make_pair(cert, key);
  };
  auto [cert, key] = make_certificate("host-a");
  auto [other_cert, other_key] = make_certificate("host-b");
  ServerOptions o = TlsOnTcp(cert, key);
  std::atomic<int> served{0};
  HttpServer server(o, Synchronous([&](const Request& r) {
    ++served;
    return rpc::RpcResult{200, "tls:" + r.body, ""};
  }));
  server.Start();
  // A bundle of several certificates, the server's among them.
  test::WriteFile(dir_ / "bundle.pem", test::ReadFile(other_cert) + test::ReadFile(cert));
  auto trusted = TlsTrust::FromBundle(dir_ / "bundle.pem");
  Connection c = Connection::Tcp("127.0.0.1", server.tcp_port(), 5000, trusted.get());
  Answer a = c.Call("/remote_db_access", "hello", kSecretA, false);
  EXPECT_EQ(200, a.status);
  EXPECT_EQ("tls:hello", a.body);
  EXPECT_EQ("tls:again", c.Call("/remote_db_access", "again", kSecretA, false).body);  // kept alive
  // A bundle without the server's certificate: refused, and said why.
  auto other = TlsTrust::FromBundle(other_cert);
  try {
    Connection::Tcp("127.0.0.1", server.tcp_port(), 5000, other.get());
    ADD_FAILURE() << "an untrusted server was taken";
  } catch (const Error& e) {
    EXPECT_EQ(ErrorKind::kIo, e.kind());
    EXPECT_NE(std::string(e.what()).find("not trusted"), std::string::npos) << e.what();
  }
  EXPECT_EQ(2, served.load());
  // A bundle that holds no certificate is a clear error, not "trust all".
  test::WriteFile(dir_ / "empty.pem", "not a certificate\n");
  try {
    TlsTrust::FromBundle(dir_ / "empty.pem");
    ADD_FAILURE() << "a bundle without certificates was taken";
  } catch (const Error& e) {
    EXPECT_EQ(ErrorKind::kInvalidArgument, e.kind()) << e.what();
  }
  // A plain client on the TLS port gets no answer.
  EXPECT_THROW(Connection::Tcp("127.0.0.1", server.tcp_port(), 2000)
                   .Call("/remote_db_access", "plain", kSecretA, false),
               Error);
  EXPECT_EQ(2, served.load());
}

// An answer given while the server stops (a long poll answered at
// shutdown) still reaches its client.
TEST_F(TransportTest, StopDeliversAnswersAlreadyUnderWay) {
  ServerOptions o;
  o.unix_socket = socket_;
  std::atomic<bool> arrived{false};
  std::thread answerer;
  HttpServer server(o, [&](Request r, Responder respond) {
    arrived = true;
    answerer = std::thread([respond, body = r.body] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      respond(rpc::RpcResult{200, "late:" + body, ""});
    });
  });
  server.Start();
  Connection c = Unix();
  c.Send("POST /remote_db_access HTTP/1.1\r\ncontent-length: 1\r\n\r\nz");
  while (!arrived) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread stopper([&] { server.Stop(); });
  EXPECT_EQ("late:z", c.ReadAnswer().body);
  stopper.join();
  answerer.join();
}

TEST_F(TransportTest, HandlerFailureIs500AndCloses) {
  StartServer();
  Connection c = Unix();
  Answer a = c.Call("/remote_db_access", "fail");
  EXPECT_EQ(500, a.status);
  EXPECT_FALSE(a.framed);
  EXPECT_EQ(0u, a.raw.find("HTTP/1.1 500 Internal Error\r\ncontent-length: "));
  EXPECT_NE(std::string::npos,
            a.raw.find("\r\ncontent-type: text/html\r\nconnection: close\r\n"
                       "cache-control: no-cache, no-store\r\n\r\n<html>"));
  EXPECT_TRUE(c.ClosedWithin(2000));
  EXPECT_EQ(200, Unix().Call("/remote_db_access", "ok").status);
}

TEST_F(TransportTest, MalformedRequestsGetAnErrorAndTheServerGoesOn) {
  StartServer();
  const std::vector<std::pair<std::string, int>> cases = {
      {"garbage garbage garbage\r\n\r\n", 500},
      {"FRAME 00000000zz00POST / HTTP/1.1\r\n\r\n", 500},
      {"POST /remote_db_access HTTP/1.1\r\n\r\n", 500},             // no content-length
      {"POST /remote_db_access HTTP/1.1\r\ncontent-length: -3\r\n\r\n", 500},
      {"POST /remote_db_access HTTP/1.1\r\ncontent-length: 307201\r\n\r\n", 500},
      {"POST /remote_db_access HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
       500},
      {"POST /remote_db_access HTTP/1.1\r\nx: " + std::string(20000, 'a') + "\r\n\r\n", 431},
      {"FRAME 999999999999", 431},
  };
  for (const auto& [bytes, status] : cases) {
    Connection c = Unix();
    c.Send(bytes);
    Answer a = c.ReadAnswer();
    EXPECT_EQ(status, a.status) << bytes.substr(0, 60);
    EXPECT_TRUE(c.ClosedWithin(2000)) << bytes.substr(0, 60);
  }
  EXPECT_EQ(0, calls_.load());
  EXPECT_EQ(200, Unix().Call("/remote_db_access", "still here").status);
}

TEST_F(TransportTest, LargestBodyIsAcceptedAndOneMoreByteIsNot) {
  StartServer();
  std::string body(307200, 'b');
  Answer a = Unix().Call("/remote_db_access", body);
  EXPECT_EQ(200, a.status);
  EXPECT_EQ(307203u, a.body.size());
  // Refused from the head alone: the body is never read.
  std::string request = XapiRequest("/remote_db_access", body + "b");
  Connection c = Unix();
  c.Send(request.substr(0, request.size() - body.size() - 1));
  EXPECT_EQ(500, c.ReadAnswer().status);
  EXPECT_TRUE(c.ClosedWithin(2000));
}

TEST_F(TransportTest, ShortBodyThenCloseAndDisconnectsMidRequest) {
  StartServer();
  {
    Connection c = Unix();
    c.Send("POST /remote_db_access HTTP/1.1\r\ncontent-length: 100\r\n\r\nonly a little");
  }
  {
    Connection c = Unix();
    c.Send("FRAME 000000000200POST /remote_db_acc");
  }
  {
    Connection c = Unix();
    c.Send("PROXY TCP4 1.2.3.4");
  }
  EXPECT_EQ(200, Unix().Call("/remote_db_access", "after").status);
  EXPECT_EQ(1, calls_.load());
}

TEST_F(TransportTest, StalledFirstRequestTimesOutWhileOthersAreServed) {
  StartServer(false, /*read_timeout_ms=*/300);
  Connection stalled = Unix();
  stalled.Send("POST /remote_db_access HTTP/1.1\r\ncontent-le");
  Connection silent = Unix();
  // Meanwhile others are served.
  EXPECT_EQ(200, Unix().Call("/remote_db_access", "x").status);
  Answer a = stalled.ReadAnswer();
  EXPECT_EQ(408, a.status);
  EXPECT_TRUE(stalled.ClosedWithin(2000));
  EXPECT_EQ(408, silent.ReadAnswer().status);

  // After the first request, an idle connection is kept however long.
  Connection idle = Unix();
  EXPECT_EQ(200, idle.Call("/remote_db_access", "first").status);
  EXPECT_FALSE(idle.ClosedWithin(1000));
  EXPECT_EQ(200, idle.Call("/remote_db_access", "second").status);
  // ...but a later request that stops half-way is dropped.
  idle.Send("POST /remote_db_access HTTP/1.1\r\ncontent-length: 5\r\n\r\nab");
  EXPECT_EQ(408, idle.ReadAnswer().status);
}

TEST_F(TransportTest, TwoThousandConnectionsThenAGoodRequest) {
  RaiseFileLimit();
  StartServer();
  std::vector<Connection> many;
  for (int i = 0; i < 2000; ++i) many.push_back(Unix());
  EXPECT_EQ(200, Unix().Call("/remote_db_access", "one more").status);
  // Every one of them is still served.
  for (size_t i = 0; i < many.size(); i += 1) {
    many[i].Send(XapiRequest("/remote_db_access", std::to_string(i)));
  }
  for (size_t i = 0; i < many.size(); ++i) {
    ASSERT_EQ("v1:" + std::to_string(i), many[i].ReadAnswer().body);
  }
  many.clear();
  EXPECT_EQ(200, Unix().Call("/remote_db_access", "after").status);
}

// ---------------------------------------------------------------------------
// The real dispatcher and store behind the server: the protocol vectors.

std::vector<nlohmann::json> ReadCases(const std::string& file) {
  std::vector<nlohmann::json> cases;
  std::istringstream in(test::ReadFile(test::DataPath("vectors/" + file)));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) cases.push_back(nlohmann::json::parse(line));
  }
  return cases;
}

class VectorServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    schema_ = Schema::LoadFile(test::DataPath("vectors/fixture-schema.json"));
    fixture_ = test::ReadFile(test::DataPath("vectors/fixture-state.db"));
    test::WriteFile(dir_ / "secret", std::string(kSecretA) + "\n");
    ServerOptions o;
    o.unix_socket = dir_ / "db.sock";
    o.tcp = true;
    o.secret_files = {dir_ / "secret"};
    server_ = std::make_unique<HttpServer>(o, Synchronous([this](const Request& r) {
      std::lock_guard<std::mutex> lock(mu_);
      return dispatcher_->Handle(r.version, r.body);
    }));
    Reset();
    server_->Start();
  }
  void TearDown() override { server_.reset(); }

  // The fixture every vector case starts from, as a user would serve it:
  // imported into a repository, then opened again (so every answer comes
  // from what the repository kept, sets' and maps' order included).
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    dispatcher_.reset();
    store_.reset();
    StoreOptions so;
    so.path = dir_ / ("repo" + std::to_string(generation_++));
    so.fsync = false;
    Store::Import(so, ParseStateDb(fixture_, schema_), "fixture").reset();
    store_ = Store::Open(so);
    dispatcher_ = std::make_unique<rpc::Dispatcher>(store_->db());
  }

  void Replay(const std::string& file, const std::string& path, bool framed_v, int plain_every) {
    int index = 0, steps = 0;
    for (const nlohmann::json& c : ReadCases(file)) {
      Reset();
      bool framed = framed_v ? (index % plain_every != 0) : (index % plain_every == 0);
      ++index;
      auto conn = std::make_unique<Connection>(Connection::Unix(dir_ / "db.sock"));
      for (const nlohmann::json& step : c["steps"]) {
        ++steps;
        std::string request = step["request"];
        Answer a = conn->Call(path, request, "", framed);
        if (step["status"] == 200) {
          ASSERT_EQ(Expected200(step["response"], framed), a.raw) << c["id"];
        } else {
          EXPECT_EQ(500, a.status) << c["id"];
          EXPECT_TRUE(conn->ClosedWithin(2000)) << c["id"];
          conn = std::make_unique<Connection>(Connection::Unix(dir_ / "db.sock"));
        }
      }
    }
    EXPECT_GT(steps, 80);
  }

  TempDir dir_;
  std::shared_ptr<const Schema> schema_;
  std::string fixture_;
  int generation_ = 0;
  std::mutex mu_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<rpc::Dispatcher> dispatcher_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(VectorServerTest, EveryV1VectorFramedAndSomePlain) {
  Replay("v1.jsonl", "/remote_db_access", /*framed=*/true, /*plain_every=*/4);
}

TEST_F(VectorServerTest, EveryV2VectorPlainAndSomeFramed) {
  Replay("v2.jsonl", "/post_remote_db_access_v2", /*framed=*/false, /*plain_every=*/3);
}

TEST_F(VectorServerTest, HttpExamplesOverTcpByteForByte) {
  auto examples = nlohmann::json::parse(test::ReadFile(test::DataPath("vectors/http-examples.json")));
  ASSERT_EQ(2u, examples.size());
  Connection c = Connection::Tcp("127.0.0.1", server_->tcp_port());
  for (const auto& e : examples) {
    c.Send(e["request_bytes"].get<std::string>());
    EXPECT_EQ(e["response_bytes"].get<std::string>(), c.ReadAnswer().raw) << e["protocol"];
  }
}

TEST_F(VectorServerTest, TwoClientsWritingConcurrently) {
  auto writer = [this](const std::string& ref, std::vector<std::string>* failures) {
    Connection c = Connection::Unix(dir_ / "db.sock");
    for (int i = 0; i < 200; ++i) {
      std::string body =
          "<value><array><data><value>write_field</value><value/><value><array><data>"
          "<value>VM</value><value>" + ref + "</value><value>name__label</value><value>" +
          ref + "-" + std::to_string(i) + "</value></data></array></value></data></array></value>";
      Answer a = c.Call("/remote_db_access", body);
      if (a.body != "<value><array><data><value>success</value><value/></data></array></value>") {
        failures->push_back(a.raw);
      }
    }
  };
  std::vector<std::string> f1, f2;
  std::thread t1(writer, "OpaqueRef:vm1", &f1), t2(writer, "OpaqueRef:vm2", &f2);
  t1.join();
  t2.join();
  EXPECT_TRUE(f1.empty() && f2.empty());
  Connection c = Connection::Unix(dir_ / "db.sock");
  for (std::string ref : {"OpaqueRef:vm1", "OpaqueRef:vm2"}) {
    Answer a = c.Call("/remote_db_access_v2", "[\"Read_field\",\"VM\",\"name__label\",\"" + ref + "\"]");
    EXPECT_EQ("[\"Read_field\",\"" + ref + "-199\"]", a.body);
  }
  EXPECT_EQ(400u, store_->db().Sequence() - 0);
}

}  // namespace
}  // namespace xgdb::server
