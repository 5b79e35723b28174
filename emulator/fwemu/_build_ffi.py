"""cffi builder for fwemu._core (API mode, out of line). Run by setuptools via setup.py.

The C headers are the one source of every number C and Python share: each object-like
`#define FW_*`/`FWA_*` in HEADERS is declared to cffi as `#define NAME ...` (read from the
header here, its value filled in by the compiler), so Python uses `lib.NAME` and no list of
names or values is kept by hand. The struct and function declarations below mirror the
headers: API mode compiles the functions against the real prototypes (-Werror: a drifted
one fails the build) and checks each struct's layout against the compiler's when the type
is first used; tests/unit/test_constants.py uses every struct and checks the numbers.
"""

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CSRC = os.path.join(ROOT, "csrc")

with open(os.path.join(HERE, "_version.py")) as f:
    _m = re.search(r'__version__ = "([^"]+)"', f.read())
if _m is None:
    raise RuntimeError("emulator/fwemu/_version.py has no __version__")
VERSION = _m.group(1)

# The headers whose #defines Python sees as lib.NAME (agent.h: the window flags).
HEADERS = ("cper.h", "ghes.h", "osmodel.h", "jline.h", "frame.h", "pack.h", "agent/proto.h", "agent/agent.h")
_DEFINE = re.compile(r"^#define\s+(FWA?_[A-Z0-9_]+)\s+(\S.*?)\s*(?:/\*.*)?$")


def header_defines(path: str) -> dict[str, str]:
    """NAME -> value text of each object-like `#define FW_*/FWA_*` in one header (function-like
    macros and include guards, which have no value, are left out)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = _DEFINE.match(line.strip())
            if m:
                out[m.group(1)] = m.group(2)
    return out


CONSTANTS = [name for h in HEADERS for name in header_defines(os.path.join(CSRC, h))]

CDEF = "\n".join(f"#define {c} ..." for c in CONSTANTS) + """
typedef struct { uint8_t b[16]; } fw_guid;
typedef struct {
    fw_guid section_type; uint32_t severity; uint16_t revision; uint8_t validation_bits;
    uint8_t flags; fw_guid fru_id; uint8_t fru_text[20]; uint64_t timestamp;
    uint32_t data_length_override; uint8_t override_length;
} fw_gde;
typedef struct {
    uint64_t validation_bits, error_status, physical_addr, physical_addr_mask;
    uint16_t node, card, module, bank, device, row, column, bit_pos;
    uint64_t requestor_id, responder_id, target_id;
    uint8_t error_type, extended; uint16_t rank, mem_array_handle, mem_dev_handle;
} fw_mem_section;
typedef struct {
    uint8_t version, length; uint16_t validation_bits; uint8_t type; uint16_t multiple_error;
    uint8_t flags; uint64_t error_info, virt_fault_addr, physical_fault_addr;
} fw_arm_err_info;
typedef struct {
    uint16_t version, type; uint32_t size; const uint8_t *regs; const uint8_t *pad; uint32_t pad_len;
} fw_arm_ctx;
typedef struct {
    uint32_t validation_bits; uint16_t err_info_num, context_info_num; uint32_t section_length;
    uint8_t affinity_level; uint64_t mpidr, midr; uint32_t running_state, psci_state;
    uint8_t ctx_align; const fw_arm_err_info *err_info; const fw_arm_ctx *ctx; const uint8_t *vendor;
    uint32_t vendor_len;
} fw_arm_section;
typedef struct {
    uint64_t validation_bits; uint32_t port_type; uint8_t version_minor, version_major;
    uint16_t command, status, vendor_id, device_id; uint8_t class_code[3];
    uint8_t function, device; uint16_t segment; uint8_t bus, secondary_bus; uint16_t slot;
    uint64_t serial_number; uint16_t bridge_secondary_status, bridge_control;
    uint8_t capability[60]; uint8_t aer_info[96];
} fw_pcie_section;
typedef struct {
    uint64_t validation_bits;
    uint8_t proc_type, proc_isa, proc_error_type, operation, flags, level;
    uint64_t cpu_version; uint8_t cpu_brand[128];
    uint64_t proc_id, target_addr, requestor_id, responder_id, ip;
} fw_proc_section;
typedef struct {
    uint8_t record_type, revision; uint64_t record_identifier; fw_guid record_identifier_guid;
    const uint8_t *trailing; uint32_t trailing_len;
} fw_fwref_section;
typedef struct {
    uint32_t flags, block_status, severity, data_length, raw_data_offset;
    const uint8_t *raw_data; uint32_t raw_data_len;
} fw_estatus;
typedef struct { int rule; uint32_t offset, len, entries; } fw_verdict;
typedef struct {
    uint32_t offset, hdr_len, body_offset, body_len; fw_gde gde; int kind;
} fw_entry_view;
typedef struct { uint64_t preserve, write; uint8_t bit_offset, width_bits; } fw_ack_reg;

int fw_mem_encode(const fw_mem_section *s, uint8_t *out, size_t cap);
int fw_mem_decode(const uint8_t *buf, size_t len, fw_mem_section *s);
int fw_arm_encode(const fw_arm_section *s, uint8_t *out, size_t cap);
int fw_arm_decode(const uint8_t *buf, size_t len, fw_arm_section *s, fw_arm_err_info *info,
                  size_t max_info, fw_arm_ctx *ctx, size_t max_ctx);
int fw_pcie_encode(const fw_pcie_section *s, uint8_t *out, size_t cap);
int fw_pcie_decode(const uint8_t *buf, size_t len, fw_pcie_section *s);
int fw_proc_encode(const fw_proc_section *s, uint8_t *out, size_t cap);
int fw_proc_decode(const uint8_t *buf, size_t len, fw_proc_section *s);
int fw_fwref_encode(const fw_fwref_section *s, uint8_t *out, size_t cap);
int fw_fwref_decode(const uint8_t *buf, size_t len, fw_fwref_section *s);
uint32_t fw_auto_block_status(uint32_t severity, const fw_gde *gdes, size_t n);
int fw_estatus_assemble(const fw_estatus *st, const fw_gde *gdes, const uint8_t *const *bodies,
                        const uint32_t *body_lens, size_t n, uint8_t *out, size_t cap);
int fw_encode_block(const fw_estatus *st, const fw_gde *gde, int kind, const void *section,
                    uint8_t *out, size_t cap);
int fw_encode_mem_block(const fw_estatus *st, const fw_gde *gde, const fw_mem_section *tmpl,
                        uint64_t physical_addr, uint64_t timestamp, uint8_t *out, size_t cap);
int fw_batch_mem(const fw_estatus *st, const fw_gde *gde, const fw_mem_section *tmpl, size_t n,
                 const uint64_t *physical_addr, const uint64_t *timestamp,
                 const uint8_t *error_type, uint8_t *out, size_t stride);
int fw_check(const uint8_t *buf, size_t buflen, uint32_t error_block_length, fw_verdict *v);
const char *fw_rule_name(int rule);
const char *fw_rule_kernel_message(int rule);
int fw_entry_next(const uint8_t *buf, size_t data_end, uint32_t *off, fw_entry_view *e);
int fw_section_kind(const fw_guid *g);
const char *fw_core_version(void);

int fw_post(uint8_t *block, size_t block_len, const uint8_t *rec, size_t rec_len, uint32_t flags);
uint32_t fw_block_status(const uint8_t *block);
uint64_t fw_ack_os_mask(const fw_ack_reg *r);
uint64_t fw_ack_os_value(const fw_ack_reg *r, uint64_t current);
uint64_t fw_ack_armed_value(const fw_ack_reg *r, uint64_t current);
int fw_ack_is_acked(const fw_ack_reg *r, uint64_t value);
uint64_t fw_reg_read(const uint8_t *p, unsigned width_bits);
void fw_reg_write(uint8_t *p, unsigned width_bits, uint64_t v);
uint64_t fw_ack_arm(const fw_ack_reg *r, uint8_t *reg);
typedef struct {
    uint8_t *block;
    size_t block_len;
    uint8_t *ack;
    fw_ack_reg ack_reg;
} fw_source;
int fw_source_free(const fw_source *s);
int fw_source_post(const fw_source *s, const uint8_t *rec, size_t rec_len, uint32_t flags);
int fw_source_consumed(const fw_source *s);
typedef struct {
    uint8_t *esa; uint64_t block_pa; uint8_t *block; uint32_t limit;
    uint8_t *ack; uint64_t ack_preserve, ack_write; uint8_t ack_width;
} fw_os_source;
typedef struct { uint32_t kind, arg; uint64_t addr; } fw_os_action;
int fw_os_read(const fw_os_source *s, uint8_t *out, uint32_t cap, uint32_t *len);
void fw_os_clear(const fw_os_source *s);
int fw_os_actions(const uint8_t *buf, uint32_t len, fw_os_action *acts, uint32_t max);
int fw_fixed(char *out, double x, int digits);
int fw_jline_accepted(char *out, size_t cap, uint64_t id, const char *scenario_json,
                      uint32_t source, const char *notify, uint32_t pe, const char *digest,
                      double accepted, const char *run, double m_accepted, uint32_t length,
                      uint32_t bs, const char *fields_json);
int fw_jline_final(char *out, size_t cap, uint64_t id, const char *scenario_json,
                   uint32_t source, const char *notify, uint32_t pe, uint64_t block,
                   const char *digest, const char *state, double wall, double acc,
                   double posted, double notified, double consumed, double end,
                   const char *run, const char *fields_json, const uint8_t *record,
                   uint32_t length, const char *event);
int fw_jline_accepted_n(char *out, size_t cap, size_t n, const uint64_t *id,
                        const char *scenario_json, const uint32_t *source, const char *notify,
                        const uint32_t *pe, const char *digest, const double *accepted,
                        const char *run, const double *m_accepted, const uint32_t *length,
                        const uint32_t *bs, const char *fields_json);
int fw_jline_final_n(char *out, size_t cap, size_t n, const uint64_t *id,
                     const char *scenario_json, const uint32_t *source, const char *notify,
                     const uint32_t *pe, const uint64_t *block, const char *digest,
                     const char *state, const double *wall, const double *acc,
                     const double *posted, const double *notified, const double *consumed,
                     const double *end, const char *run, const char *fields_json,
                     const uint8_t *records, const uint32_t *length, const char *event,
                     uint32_t *ends);
typedef struct {
    uint32_t off, size, src, flags; int32_t vbit; uint32_t col, rshift, lshift;
    uint64_t mask, value;
} fw_pack_slot;
typedef struct {
    const fw_pack_slot *slots; uint32_t nslots, record_size; const uint8_t *pool;
    uint32_t pool_len, ncols; const uint64_t *col_max;
} fw_pack_plan;
typedef struct { uint32_t slot, col; uint64_t index, value; } fw_pack_error;
int fw_pack_check(const fw_pack_plan *p, fw_pack_error *err);
int fw_pack_columns(const fw_pack_plan *p, const uint64_t *const *cols, size_t n, uint8_t *out,
                    size_t cap, fw_pack_error *err);
"""

# The debug channel's framing and the target agent (csrc/frame.h, csrc/agent/): their cdef
# lives beside the agent's sources.
with open(os.path.join(CSRC, "agent", "cffi.cdef")) as f:
    CDEF += f.read()

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "fwemu._core",
    '#include "cper.h"\n#include "ghes.h"\n#include "osmodel.h"\n#include "jline.h"\n#include "frame.h"\n#include "pack.h"\n#include "agent/agent.h"\n',
    sources=[os.path.relpath(os.path.join(CSRC, n), ROOT)
             for n in ("cper.c", "ghes.c", "osmodel.c", "jline.c", "frame.c", "pack.c", "agent/mp.c",
                       "agent/agent.c")],
    include_dirs=[os.path.relpath(CSRC, ROOT)],
    libraries=["m"],     # jline.c: math.h (isfinite, signbit: macros where libc makes them so)
    define_macros=[("FWEMU_VERSION", f'"{VERSION}"')],
    extra_compile_args=["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                        "-Wno-unused-parameter", "-D_DEFAULT_SOURCE"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
