// CRC32C (Castagnoli), the checksum of every raw-stream block. Uses the
// SSE4.2 instruction on three lanes at once when the CPU has it, else a table;
// reduce verifies every byte it reads, so the fast path matters.
#pragma once
#include <cstddef>
#include <cstdint>

namespace jobperf {
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
}
