// The real FileSystem: POSIX calls, with every failure turned into a message
// that names the file, the operation and the system error.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "raft/file_io.h"
#include "raft/storage.h"

namespace raft {
namespace {

util::Error sys_error(const std::string& path, const char* op, int err) {
  return util::make_error(path + ": " + op + ": " + std::strerror(err));
}

class PosixFile final : public WritableFile {
 public:
  PosixFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  util::Result<void> append(std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        return util::make_error(path_ + ": write: " + std::strerror(err) + " (wrote " +
                                std::to_string(done) + " of " + std::to_string(data.size()) +
                                " bytes)");
      }
      // A short write is not an error by itself; the next write reports why.
      done += static_cast<size_t>(n);
      size_ += static_cast<uint64_t>(n);
    }
    return {};
  }

  util::Result<void> sync() override {
    if (::fdatasync(fd_) != 0) return sys_error(path_, "fdatasync", errno);
    return {};
  }

  util::Result<void> truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return sys_error(path_, "ftruncate", errno);
    // O_APPEND writes go to the new end; keep our count in step.
    size_ = size;
    return {};
  }

  uint64_t size() const override { return size_; }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixFileSystem final : public FileSystem {
 public:
  util::Result<std::unique_ptr<WritableFile>> open_append(const std::string& path,
                                                          bool truncate) override {
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return sys_error(path, "open", errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return sys_error(path, "fstat", err);
    }
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixFile>(path, fd, static_cast<uint64_t>(st.st_size)));
  }

  util::Result<std::string> read_file(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sys_error(path, "open", errno);
    std::string out;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return sys_error(path, "read", err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  util::Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return sys_error(dir, "opendir", errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (::stat(join_path(dir, name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(name);
    }
    ::closedir(d);
    return names;
  }

  util::Result<void> create_dirs(const std::string& dir) override {
    if (dir.empty()) return {};
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = dir.find('/', pos + 1);
      partial = dir.substr(0, pos);
      if (partial.empty()) continue;
      if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) return sys_error(partial, "mkdir", errno);
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return sys_error(dir, "stat", errno);
    if (!S_ISDIR(st.st_mode)) return util::make_error(dir + ": exists and is not a directory");
    return {};
  }

  util::Result<void> rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return sys_error(from + " -> " + to, "rename", errno);
    return {};
  }

  util::Result<void> remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return sys_error(path, "unlink", errno);
    return {};
  }

  util::Result<void> sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error(dir, "open", errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return sys_error(dir, "fsync", err);
    return {};
  }
};

}  // namespace

FileSystem& posix_file_system() {
  static PosixFileSystem fs;
  return fs;
}

void remove_segment_gradually(const std::string& path) {
  // Each truncation frees this much, a small journal transaction; the pause
  // lets the log's own fsyncs commit between them.
  constexpr off_t kStep = 4 << 20;
  const std::string doomed = path + kObsoleteSegmentSuffix;
  if (::rename(path.c_str(), doomed.c_str()) != 0) {
    (void)::unlink(path.c_str());
    return;
  }
  if (int fd = ::open(doomed.c_str(), O_WRONLY | O_CLOEXEC); fd >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
      for (off_t size = st.st_size; size > 0;) {
        size = size > kStep ? size - kStep : 0;
        if (::ftruncate(fd, size) != 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    ::close(fd);
  }
  (void)::unlink(doomed.c_str());
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace raft
