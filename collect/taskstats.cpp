#include "collect/taskstats.hpp"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace jobperf::collect {
namespace {

// One request: netlink header, generic netlink header, one attribute.
struct Request {
  nlmsghdr header;
  genlmsghdr generic;
  char attribute[64];
};

// Calls `visit(type, payload)` for each attribute in [data, data + size).
template <class Visit>
void for_each_attribute(const char* data, std::size_t size, Visit visit) {
  while (size >= NLA_HDRLEN) {
    nlattr a;
    std::memcpy(&a, data, sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > size) return;  // malformed: stop, never read past the end
    visit(static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK), std::span<const char>(data + NLA_HDRLEN, a.nla_len - NLA_HDRLEN));
    const std::size_t step = std::min<std::size_t>(NLA_ALIGN(a.nla_len), size);
    data += step;
    size -= step;
  }
}

// The attributes of a generic netlink message, or an empty span for an
// error reply or a short message.
std::span<const char> generic_payload(std::span<const char> message) {
  nlmsghdr header;
  if (message.size() < NLMSG_HDRLEN + GENL_HDRLEN) return {};
  std::memcpy(&header, message.data(), sizeof header);
  if (header.nlmsg_type == NLMSG_ERROR || header.nlmsg_len > message.size() ||
      header.nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
    return {};
  return message.subspan(NLMSG_HDRLEN + GENL_HDRLEN, header.nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN);
}

}  // namespace

bool parse_taskstats_reply(std::span<const char> message, TaskCounters& out) {
  bool found = false;
  taskstats stats{};
  auto payload = generic_payload(message);
  for_each_attribute(payload.data(), payload.size(), [&](std::uint16_t type, std::span<const char> nest) {
    if (type != TASKSTATS_TYPE_AGGR_PID && type != TASKSTATS_TYPE_AGGR_TGID) return;
    for_each_attribute(nest.data(), nest.size(), [&](std::uint16_t inner, std::span<const char> value) {
      if (inner != TASKSTATS_TYPE_STATS) return;
      // The structure only ever grows at its end: take what both sides know.
      std::memcpy(&stats, value.data(), std::min(value.size(), sizeof stats));
      found = value.size() >= offsetof(taskstats, nivcsw) + sizeof stats.nivcsw;
    });
  });
  if (!found) return false;
  out.user_ns = stats.ac_utime * 1000;
  out.system_ns = stats.ac_stime * 1000;
  out.minflt = stats.ac_minflt;
  out.majflt = stats.ac_majflt;
  out.voluntary_ctxt = stats.nvcsw;
  out.involuntary_ctxt = stats.nivcsw;
  out.run_ns = stats.cpu_run_real_total;
  out.wait_ns = stats.cpu_delay_total;
  out.timeslices = stats.cpu_count;
  return true;
}

TaskstatsClient::~TaskstatsClient() {
  if (socket_ >= 0) ::close(socket_);
}

bool TaskstatsClient::send_request(std::uint16_t type, std::uint8_t command, std::uint16_t attribute,
                                   const void* data, std::size_t size) {
  Request r{};
  nlattr a{};
  a.nla_type = attribute;
  a.nla_len = static_cast<std::uint16_t>(NLA_HDRLEN + size);
  std::memcpy(r.attribute, &a, sizeof a);
  std::memcpy(r.attribute + NLA_HDRLEN, data, size);
  r.header.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(GENL_HDRLEN) + NLA_ALIGN(a.nla_len));
  r.header.nlmsg_type = type;
  r.header.nlmsg_flags = NLM_F_REQUEST;
  r.header.nlmsg_seq = ++sequence_;
  r.generic.cmd = command;
  r.generic.version = 1;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    if (::sendto(socket_, &r, r.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) >= 0)
      return true;
    if (errno != EINTR) return false;
  }
}

// The reply to the last request; replies to earlier requests (left behind
// by an interrupted receive) are skipped by their sequence number.
long TaskstatsClient::receive() {
  for (;;) {
    long n = ::recv(socket_, reply_, sizeof reply_, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < static_cast<long>(NLMSG_HDRLEN)) return -1;
    nlmsghdr header;
    std::memcpy(&header, reply_, sizeof header);
    if (header.nlmsg_seq == sequence_) return n;
  }
}

std::string TaskstatsClient::open() {
  socket_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (socket_ < 0) return std::string("taskstats: no generic netlink socket: ") + strerror(errno);
  timeval timeout{0, 200'000};  // the kernel answers before sendto returns; never wait long
  setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  const char name[] = TASKSTATS_GENL_NAME;
  long n = send_request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, name, sizeof name) ? receive() : -1;
  auto payload = n > 0 ? generic_payload({reply_, static_cast<std::size_t>(n)}) : std::span<const char>{};
  for_each_attribute(payload.data(), payload.size(), [&](std::uint16_t type, std::span<const char> value) {
    if (type == CTRL_ATTR_FAMILY_ID && value.size() >= sizeof family_) std::memcpy(&family_, value.data(), sizeof family_);
  });
  std::string why;
  TaskCounters self;
  if (family_ == 0) {
    why = "taskstats: the kernel has no taskstats family (CONFIG_TASKSTATS off)";
  } else if (!query(static_cast<std::uint32_t>(getpid()), TaskQuery::Process, self)) {
    why = errno == EPERM ? "taskstats: queries need CAP_NET_ADMIN" : std::string("taskstats: query refused: ") + strerror(errno);
  }
  if (!why.empty()) {
    ::close(socket_);
    socket_ = -1;
    return why;
  }
  scheduler_times_ = self.timeslices > 0;  // this process has surely been scheduled
  return "";
}

bool TaskstatsClient::query(std::uint32_t id, TaskQuery kind, TaskCounters& out) {
  const auto attribute = kind == TaskQuery::Process ? TASKSTATS_CMD_ATTR_TGID : TASKSTATS_CMD_ATTR_PID;
  if (!send_request(family_, TASKSTATS_CMD_GET, attribute, &id, sizeof id)) return false;
  long n = receive();
  if (n < 0) return false;
  if (parse_taskstats_reply({reply_, static_cast<std::size_t>(n)}, out)) return true;
  nlmsghdr header;
  std::memcpy(&header, reply_, sizeof header);
  if (header.nlmsg_type == NLMSG_ERROR && static_cast<std::size_t>(n) >= NLMSG_HDRLEN + sizeof(nlmsgerr)) {
    nlmsgerr error;
    std::memcpy(&error, reply_ + NLMSG_HDRLEN, sizeof error);
    errno = -error.error;
  }
  return false;
}

}  // namespace jobperf::collect
