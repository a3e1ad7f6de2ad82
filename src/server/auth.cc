#include "server/auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "server/request_reader.h"
#include "xgdb/error.h"

namespace xgdb::server {

namespace {

// Compares without an early exit, so the time taken says nothing about how
// much of a guessed secret was right.
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

bool ReadAll(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
  ::close(fd);
  return n == 0;
}

}  // namespace

SecretChecker::SecretChecker(std::vector<std::string> files) {
  for (auto& path : files) {
    files_.push_back(SecretFile{std::move(path), {}, {}, -1});
    Refresh(files_.back(), /*must_succeed=*/true);
  }
}

void SecretChecker::Refresh(SecretFile& file, bool must_succeed) {
  struct stat st;
  if (::stat(file.path.c_str(), &st) != 0) {
    if (must_succeed) {
      throw Error(ErrorKind::kInvalidArgument, "cannot read secret file " + file.path);
    }
    return;  // keep the last secret we knew; the file may be being replaced
  }
  if (st.st_mtim.tv_sec == file.mtime.tv_sec && st.st_mtim.tv_nsec == file.mtime.tv_nsec &&
      st.st_size == file.size) {
    return;
  }
  std::string text;
  if (!ReadAll(file.path, &text)) {
    if (must_succeed) {
      throw Error(ErrorKind::kInvalidArgument, "cannot read secret file " + file.path);
    }
    return;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' ||
                           text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  if (text.empty()) {
    if (must_succeed) {
      throw Error(ErrorKind::kInvalidArgument, "secret file " + file.path + " is empty");
    }
    spdlog::warn("secret file {} is empty now; keeping the previous secret", file.path);
    return;
  }
  if (!file.secret.empty() && file.secret != text) {
    spdlog::info("secret file {} changed; using the new secret", file.path);
  }
  file.secret = std::move(text);
  file.mtime = st.st_mtim;
  file.size = st.st_size;
}

std::string SecretChecker::First() {
  std::lock_guard<std::mutex> lock(mu_);
  if (files_.empty()) return "";
  Refresh(files_.front(), /*must_succeed=*/false);
  return files_.front().secret;
}

std::vector<std::string> SecretChecker::All() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> secrets;
  for (SecretFile& file : files_) {
    Refresh(file, /*must_succeed=*/false);
    if (!file.secret.empty()) secrets.push_back(file.secret);
  }
  return secrets;
}

SecretChecker::Verdict SecretChecker::Check(std::string_view cookie_header) {
  std::optional<std::string> given = FindCookie(cookie_header, "pool_secret");
  if (!given) return Verdict::kMissing;
  std::lock_guard<std::mutex> lock(mu_);
  bool allowed = false;
  for (SecretFile& file : files_) {
    Refresh(file, /*must_succeed=*/false);
    allowed |= SameSecret(*given, file.secret);
  }
  return allowed ? Verdict::kAllowed : Verdict::kWrong;
}

}  // namespace xgdb::server
