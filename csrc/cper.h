/*
 * fwemu C core: UEFI CPER records as they sit in an ACPI GHES error status block.
 *
 * Encoding is explicit little-endian byte writing (no packed structs), so the same code
 * runs on any host and in freestanding firmware. Nothing here allocates; every function
 * takes the caller's buffer and its capacity and returns a negative FW_E_* on error.
 * Layouts: shared/reference/cper-layouts.md. Kernel rules: linux-ghes-contract.md §3.
 */
#ifndef FWEMU_CPER_H
#define FWEMU_CPER_H

#include <stddef.h>
#include <stdint.h>

/* ---- return codes (negative) ---------------------------------------------------- */
#define FW_OK 0
#define FW_E_NOSPACE (-1)  /* output buffer too small */
#define FW_E_INVAL (-2)    /* a field value does not fit its encoding */
#define FW_E_TRUNC (-3)    /* input ends before the structure does */
#define FW_E_BUSY (-4)     /* block still holds an unconsumed record */
#define FW_E_KIND (-5)     /* unknown section kind */
#define FW_E_UNACKED (-6)  /* GHESv2: the OS has not acked the last record yet */

/* ---- sizes ------------------------------------------------------------------------ */
#define FW_ESTATUS_HDR_LEN 20u
#define FW_GDE_LEN_V2 64u   /* revision < 0x0300 */
#define FW_GDE_LEN_V3 72u   /* revision >= 0x0300: adds the timestamp */
#define FW_MEM_LEN 80u
#define FW_MEM_LEN_OLD 73u  /* UEFI 2.1/2.2 memory section */
#define FW_ARM_HDR_LEN 40u
#define FW_ARM_INFO_LEN 32u
#define FW_ARM_CTX_HDR_LEN 8u
#define FW_ARM_CTX_ALIGN 16u /* UEFI N.2.4.4: each context block zero-padded to a multiple of 16 */
#define FW_PCIE_LEN 208u
#define FW_PROC_LEN 192u
#define FW_FWREF_LEN 32u
#define FW_MAX_BLOCK 65536u /* Linux clamps error_block_length to 64 KiB */

/* ---- severities (GESB and GDE) ------------------------------------------------------ */
#define FW_SEV_RECOVERABLE 0u
#define FW_SEV_FATAL 1u
#define FW_SEV_CORRECTED 2u
#define FW_SEV_INFO 3u

/* ---- block_status bits ------------------------------------------------------------- */
#define FW_BS_UE 0x1u
#define FW_BS_CE 0x2u
#define FW_BS_MULTI_UE 0x4u
#define FW_BS_MULTI_CE 0x8u
#define FW_BS_COUNT_SHIFT 4
#define FW_BS_COUNT_MASK (0x3FFu << 4) /* ACPI bits 13:4 */

/* ---- GDE flags and validation bits --------------------------------------------------- */
#define FW_GDE_FLAG_PRIMARY 0x01u
#define FW_GDE_FLAG_CONTAINMENT 0x02u
#define FW_GDE_FLAG_RESET 0x04u
#define FW_GDE_FLAG_THRESHOLD 0x08u
#define FW_GDE_FLAG_RESOURCE 0x10u
#define FW_GDE_FLAG_LATENT 0x20u
#define FW_GDE_VALID_FRU_ID 0x1u
#define FW_GDE_VALID_FRU_TEXT 0x2u
#define FW_GDE_VALID_TIMESTAMP 0x4u

/* ---- section kinds (chosen by GUID when decoding) --------------------------------- */
#define FW_SEC_RAW 0   /* any GUID, body bytes given verbatim */
#define FW_SEC_MEM 1
#define FW_SEC_ARM 2
#define FW_SEC_PCIE 3
#define FW_SEC_PROC 4
#define FW_SEC_FWREF 5

typedef struct {
    uint8_t b[16]; /* wire order (first three groups little endian, Python uuid.bytes_le) */
} fw_guid;

extern const fw_guid FW_GUID_MEM, FW_GUID_ARM, FW_GUID_PCIE, FW_GUID_PROC, FW_GUID_FWREF;

/* Generic Error Data Entry header. error_data_length is computed from the body unless
 * override_length is set (fault injection only: then data_length_override is written). */
typedef struct {
    fw_guid section_type;
    uint32_t severity;
    uint16_t revision; /* 0x0300 → 72-byte header with timestamp */
    uint8_t validation_bits;
    uint8_t flags;
    fw_guid fru_id;
    uint8_t fru_text[20];
    uint64_t timestamp; /* BCD, EFI_ERROR_TIME_STAMP layout; v0x300 only */
    uint32_t data_length_override; /* used when override_length != 0 */
    uint8_t override_length;
} fw_gde;

/* Platform memory error section: wire fields, one for one (cper-layouts.md §5). */
typedef struct {
    uint64_t validation_bits;
    uint64_t error_status;
    uint64_t physical_addr;
    uint64_t physical_addr_mask;
    uint16_t node, card, module, bank, device, row, column, bit_pos;
    uint64_t requestor_id, responder_id, target_id;
    uint8_t error_type;
    uint8_t extended; /* bits 0-1 row bits 16-17, bits 5-7 chip id */
    uint16_t rank, mem_array_handle, mem_dev_handle;
} fw_mem_section;

typedef struct {
    uint8_t version;
    uint8_t length; /* 32 */
    uint16_t validation_bits;
    uint8_t type; /* UEFI 2.9A bitmap: 0x02 cache, 0x04 TLB, 0x08 bus, 0x10 micro-arch */
    uint16_t multiple_error;
    uint8_t flags;
    uint64_t error_info;
    uint64_t virt_fault_addr;
    uint64_t physical_fault_addr;
} fw_arm_err_info;

/* A context-information block: 8-byte header, `size` register bytes, then padding up to
 * the section's context alignment. Encode: pad == NULL writes zeros up to the alignment,
 * else pad_len bytes from pad (any length: firmware may write what it likes there).
 * Decode: pad/pad_len are the bytes between the registers and the next block. */
typedef struct {
    uint16_t version;
    uint16_t type;
    uint32_t size;        /* bytes of register data */
    const uint8_t *regs;  /* encode: source; decode: points into the decoded buffer */
    const uint8_t *pad;
    uint32_t pad_len;
} fw_arm_ctx;

/* ARM processor error section. The variable parts live in caller arrays. */
typedef struct {
    uint32_t validation_bits;
    uint16_t err_info_num;
    uint16_t context_info_num;
    uint32_t section_length; /* encode: 0 = computed; decode: as found */
    uint8_t affinity_level;
    uint64_t mpidr;
    uint64_t midr;
    uint32_t running_state;
    uint32_t psci_state;
    /* Context block alignment. 0 or FW_ARM_CTX_ALIGN: the UEFI layout (each block padded
     * to a multiple of 16 bytes; Linux >= v6.14 reads this). 1: back to back (what Linux
     * before v6.14 reads). Decode sets 16 or 1: the layout the bytes were read with. */
    uint8_t ctx_align;
    const fw_arm_err_info *err_info; /* err_info_num entries */
    const fw_arm_ctx *ctx;           /* context_info_num blocks */
    const uint8_t *vendor;
    uint32_t vendor_len;
} fw_arm_section;

typedef struct {
    uint64_t validation_bits;
    uint32_t port_type;
    uint8_t version_minor, version_major;
    uint16_t command, status;
    uint16_t vendor_id, device_id;
    uint8_t class_code[3];
    uint8_t function, device;
    uint16_t segment;
    uint8_t bus, secondary_bus;
    uint16_t slot;
    uint64_t serial_number; /* lower u32 then upper u32 = little-endian u64 */
    uint16_t bridge_secondary_status, bridge_control;
    uint8_t capability[60];
    uint8_t aer_info[96];
} fw_pcie_section;

typedef struct {
    uint64_t validation_bits;
    uint8_t proc_type, proc_isa, proc_error_type, operation, flags, level;
    uint64_t cpu_version;
    uint8_t cpu_brand[128];
    uint64_t proc_id, target_addr, requestor_id, responder_id, ip;
} fw_proc_section;

typedef struct {
    uint8_t record_type;
    uint8_t revision;
    uint64_t record_identifier;
    fw_guid record_identifier_guid;
    const uint8_t *trailing; /* bytes after the 32-byte structure */
    uint32_t trailing_len;
} fw_fwref_section;

/* ---- section bodies: encode returns bytes written, decode returns FW_OK -------------- */
int fw_mem_encode(const fw_mem_section *s, uint8_t *out, size_t cap);
int fw_mem_decode(const uint8_t *buf, size_t len, fw_mem_section *s);
int fw_arm_encode(const fw_arm_section *s, uint8_t *out, size_t cap);
/* Decodes the header and up to max_info/max_ctx entries into the caller's arrays; the
 * section's err_info/ctx pointers are set to those arrays, vendor points into buf.
 * Context blocks are read in the UEFI layout when it accounts for the bytes with zero
 * padding, else back to back when that does, else in the UEFI layout with non-zero
 * padding; ctx_align tells which. */
int fw_arm_decode(const uint8_t *buf, size_t len, fw_arm_section *s, fw_arm_err_info *info,
                  size_t max_info, fw_arm_ctx *ctx, size_t max_ctx);
int fw_pcie_encode(const fw_pcie_section *s, uint8_t *out, size_t cap);
int fw_pcie_decode(const uint8_t *buf, size_t len, fw_pcie_section *s);
int fw_proc_encode(const fw_proc_section *s, uint8_t *out, size_t cap);
int fw_proc_decode(const uint8_t *buf, size_t len, fw_proc_section *s);
int fw_fwref_encode(const fw_fwref_section *s, uint8_t *out, size_t cap);
int fw_fwref_decode(const uint8_t *buf, size_t len, fw_fwref_section *s);

/* ---- the status block --------------------------------------------------------------- */
/* Header fields. With FW_EST_AUTO_STATUS, block_status is derived from the entries'
 * severities (fw_auto_block_status). Overrides exist to write deliberately broken blocks
 * for fault injection against the OS. */
#define FW_EST_AUTO_STATUS 0x1u
#define FW_EST_OVERRIDE_DATA_LENGTH 0x2u
#define FW_EST_OVERRIDE_RAW_OFFSET 0x4u
typedef struct {
    uint32_t flags;
    uint32_t block_status;
    uint32_t severity;
    uint32_t data_length;     /* only with FW_EST_OVERRIDE_DATA_LENGTH */
    uint32_t raw_data_offset; /* only with FW_EST_OVERRIDE_RAW_OFFSET */
    const uint8_t *raw_data;
    uint32_t raw_data_len;
} fw_estatus;

/* ACPI 6.5 Table 18.11 Block Status from the entries' severities: an entry that is
 * recoverable, fatal or of an unknown value (>= 4) is uncorrectable, corrected or
 * informational is correctable; bit 0 at least one uncorrectable, bit 1 at least one
 * correctable, bit 2 more than one uncorrectable, bit 3 more than one correctable, bits
 * 13:4 the entry count (saturating). With no entries, bit 0 or bit 1 from the block
 * severity, so the block is still non-zero. */
uint32_t fw_auto_block_status(uint32_t severity, const fw_gde *gdes, size_t n);

/* Assembles header + n entries (each a GDE header and a pre-encoded body) + raw data.
 * Returns the total length. */
int fw_estatus_assemble(const fw_estatus *st, const fw_gde *gdes, const uint8_t *const *bodies,
                        const uint32_t *body_lens, size_t n, uint8_t *out, size_t cap);

/* A one-entry status block in one call, from a section's field struct: `section` points
 * to the fw_mem_section, fw_arm_section, fw_pcie_section, fw_proc_section or
 * fw_fwref_section that `kind` (FW_SEC_MEM .. FW_SEC_FWREF) names. The body is encoded in
 * place (no copy); the bytes are those of fw_estatus_assemble over the same body.
 * Returns the total length, FW_E_KIND for another kind. */
int fw_encode_block(const fw_estatus *st, const fw_gde *gde, int kind, const void *section,
                    uint8_t *out, size_t cap);

/* One memory-error status block in one call: header + one GDE + memory section, with the
 * physical address and GDE timestamp taken from the arguments (the rest from templates). */
int fw_encode_mem_block(const fw_estatus *st, const fw_gde *gde, const fw_mem_section *tmpl,
                        uint64_t physical_addr, uint64_t timestamp, uint8_t *out, size_t cap);

/* Batch: n such blocks, record i at out + i*stride, physical_addr[i] and (if non-NULL)
 * timestamp[i] / error_type[i] per record. Returns the length of one record. */
int fw_batch_mem(const fw_estatus *st, const fw_gde *gde, const fw_mem_section *tmpl, size_t n,
                 const uint64_t *physical_addr, const uint64_t *timestamp,
                 const uint8_t *error_type, uint8_t *out, size_t stride);

/* ---- judging bytes as Linux does (__ghes_check_estatus + cper_estatus_check) ------------ */
enum fw_rule {
    FW_RULE_VALID = 0,
    FW_RULE_G3_NO_STATUS,   /* block_status == 0: the OS ignores it, never acks */
    FW_RULE_L2_TRUNCATED,   /* len < 20 */
    FW_RULE_L3_LENGTH,      /* len > min(error_block_length, 64 KiB) */
    FW_RULE_H1_DATA_LENGTH, /* 0 < data_length < 64 */
    FW_RULE_H2_RAW_OFFSET,  /* raw data overlaps the entries */
    FW_RULE_E1_GDE_HEADER,  /* an entry header does not fit */
    FW_RULE_E2_GDE_PAYLOAD, /* an entry payload does not fit */
    FW_RULE_E3_LEFTOVER,    /* data_length not consumed exactly */
    FW_RULE_SHORT_INPUT,    /* not a kernel rule: the bytes given end before len */
    FW_RULE_COUNT
};

typedef struct {
    int rule;
    uint32_t offset; /* where the failing structure starts (or the field) */
    uint32_t len;    /* the length the OS reads (rule L1) */
    uint32_t entries; /* entries walked successfully */
} fw_verdict;

/* error_block_length 0 means "unknown": only the 64 KiB limit applies. Returns rule. */
int fw_check(const uint8_t *buf, size_t buflen, uint32_t error_block_length, fw_verdict *v);
const char *fw_rule_name(int rule);
const char *fw_rule_kernel_message(int rule); /* the FW_WARN text Linux prints, or "" */

/* Entry iteration over a block that fw_check accepted (or any bytes: it bounds-checks). */
typedef struct {
    uint32_t offset;      /* of the GDE header */
    uint32_t hdr_len;     /* 64 or 72 */
    uint32_t body_offset; /* offset of the section body */
    uint32_t body_len;    /* error_data_length */
    fw_gde gde;
    int kind; /* FW_SEC_* from the GUID */
} fw_entry_view;

/* Reads the entry at *off (start with 20); advances *off. Returns FW_OK, FW_E_TRUNC when
 * the entry does not fit in data_end, or 1 when *off == data_end (no more entries). */
int fw_entry_next(const uint8_t *buf, size_t data_end, uint32_t *off, fw_entry_view *e);
int fw_section_kind(const fw_guid *g);

/* ---- version ------------------------------------------------------------------------ */
const char *fw_core_version(void);

#endif
