// MemFileSystem: an in-memory disk that models durability (synced bytes,
// synced directory entries) so tests can crash it and inject I/O failures.
#include "raft/mem_file_system.h"

#include <algorithm>

namespace raft {

/// A handle on one inode. It dies with a crash: a process does not keep its
/// file descriptors across a power loss.
class MemFileSystem::MemFile final : public WritableFile {
 public:
  MemFile(MemFileSystem* fs, std::string path, std::shared_ptr<Inode> inode)
      : fs_(fs), path_(std::move(path)), inode_(std::move(inode)), epoch_(fs->epoch_) {}

  util::Result<void> append(std::string_view data) override {
    if (auto r = alive(); !r) return r;
    uint64_t want = data.size();
    uint64_t keep = want;
    std::string why;
    if (fs_->fail_write_keep_) {
      keep = std::min(keep, *fs_->fail_write_keep_);
      fs_->fail_write_keep_.reset();
      why = "Input/output error";
    }
    if (fs_->capacity_) {
      uint64_t used = fs_->used_bytes();
      uint64_t room = used >= *fs_->capacity_ ? 0 : *fs_->capacity_ - used;
      if (keep > room) {
        keep = room;
        why = "No space left on device";
      }
    }
    inode_->data.append(data.substr(0, keep));
    if (keep < want) {
      return util::make_error(path_ + ": write: " + why + " (wrote " + std::to_string(keep) +
                              " of " + std::to_string(want) + " bytes)");
    }
    return {};
  }

  util::Result<void> sync() override {
    if (auto r = alive(); !r) return r;
    if (fs_->fail_next_sync_ || fs_->fail_all_syncs_) {
      fs_->fail_next_sync_ = false;
      return util::make_error(path_ + ": fdatasync: Input/output error");
    }
    inode_->durable = inode_->data;
    ++fs_->sync_count_;
    return {};
  }

  util::Result<void> truncate(uint64_t size) override {
    if (auto r = alive(); !r) return r;
    if (size < inode_->data.size()) inode_->data.resize(size);
    return {};
  }

  uint64_t size() const override { return inode_->data.size(); }
  const std::string& path() const override { return path_; }

 private:
  util::Result<void> alive() const {
    if (epoch_ != fs_->epoch_) return util::make_error(path_ + ": file handle is gone after a crash");
    return {};
  }

  MemFileSystem* fs_;
  std::string path_;
  std::shared_ptr<Inode> inode_;
  uint64_t epoch_;
};

std::string MemFileSystem::parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

util::Result<void> MemFileSystem::check_parent(const std::string& path) const {
  std::string parent = parent_of(path);
  if (!parent.empty() && dirs_.count(parent) == 0) {
    return util::make_error(path + ": open: No such file or directory");
  }
  return {};
}

util::Result<std::unique_ptr<WritableFile>> MemFileSystem::open_append(const std::string& path,
                                                                       bool truncate) {
  if (auto r = check_parent(path); !r) return r.error();
  auto& inode = names_[path];
  if (!inode) inode = std::make_shared<Inode>();
  if (truncate) inode->data.clear();
  return std::unique_ptr<WritableFile>(std::make_unique<MemFile>(this, path, inode));
}

util::Result<std::string> MemFileSystem::read_file(const std::string& path) {
  auto it = names_.find(path);
  if (it == names_.end()) return util::make_error(path + ": open: No such file or directory");
  return it->second->data;
}

util::Result<std::vector<std::string>> MemFileSystem::list_dir(const std::string& dir) {
  if (dirs_.count(dir) == 0) return util::make_error(dir + ": opendir: No such file or directory");
  std::vector<std::string> out;
  for (const auto& [path, inode] : names_) {
    if (parent_of(path) == dir) out.push_back(path.substr(dir.size() + 1));
  }
  return out;
}

util::Result<void> MemFileSystem::create_dirs(const std::string& dir) {
  // Directories are durable at once: what is tested is files inside them.
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (!partial.empty()) dirs_.insert(partial);
  }
  return {};
}

util::Result<void> MemFileSystem::rename(const std::string& from, const std::string& to) {
  if (fail_next_rename_) {
    fail_next_rename_ = false;
    return util::make_error(from + " -> " + to + ": rename: Input/output error");
  }
  auto it = names_.find(from);
  if (it == names_.end()) return util::make_error(from + ": rename: No such file or directory");
  if (auto r = check_parent(to); !r) return r;
  auto inode = it->second;
  names_.erase(it);
  names_[to] = std::move(inode);
  return {};
}

util::Result<void> MemFileSystem::remove(const std::string& path) {
  if (names_.erase(path) == 0) return util::make_error(path + ": unlink: No such file or directory");
  return {};
}

util::Result<void> MemFileSystem::sync_dir(const std::string& dir) {
  for (auto it = durable_names_.begin(); it != durable_names_.end();) {
    if (parent_of(it->first) == dir && names_.count(it->first) == 0) {
      it = durable_names_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [path, inode] : names_) {
    if (parent_of(path) == dir) durable_names_[path] = inode;
  }
  return {};
}

void MemFileSystem::crash(uint64_t keep_unsynced_bytes) {
  ++epoch_;
  names_ = durable_names_;
  for (auto& [path, inode] : names_) {
    const std::string& d = inode->durable;
    // Pure appends since the last sync may survive in part (a torn write);
    // any other change (a truncation) is simply lost.
    if (inode->data.size() > d.size() && inode->data.compare(0, d.size(), d) == 0) {
      inode->data = d + inode->data.substr(d.size(), keep_unsynced_bytes);
    } else {
      inode->data = d;
    }
    inode->durable = inode->data;
  }
}

std::optional<std::string> MemFileSystem::contents(const std::string& path) const {
  auto it = names_.find(path);
  if (it == names_.end()) return std::nullopt;
  return it->second->data;
}

void MemFileSystem::set_contents(const std::string& path, std::string data) {
  dirs_.insert(parent_of(path));
  auto& inode = names_[path];
  if (!inode) inode = std::make_shared<Inode>();
  inode->data = std::move(data);
  inode->durable = inode->data;
  durable_names_[path] = inode;
}

uint64_t MemFileSystem::used_bytes() const {
  uint64_t total = 0;
  for (const auto& [path, inode] : names_) total += inode->data.size();
  return total;
}

}  // namespace raft
