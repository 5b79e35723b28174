/*
 * fwemu C core: encode, decode and judge GHES status blocks (see cper.h).
 * Freestanding: only memcpy/memset from libc; no heap; every access bounds-checked.
 */
#include "cper.h"

#include <string.h>

#ifndef FWEMU_VERSION
#define FWEMU_VERSION "unknown"
#endif

/* GUIDs in wire order (first three groups little endian). */
const fw_guid FW_GUID_MEM = {{0x14, 0x11, 0xbc, 0xa5, 0x64, 0x6f, 0xde, 0x4e, 0xb8, 0x63, 0x3e, 0x83,
                              0xed, 0x7c, 0x83, 0xb1}};
const fw_guid FW_GUID_ARM = {{0x16, 0x3d, 0x9e, 0xe1, 0x11, 0xbc, 0xe4, 0x11, 0x9c, 0xaa, 0xc2, 0x05,
                              0x1d, 0x5d, 0x46, 0xb0}};
const fw_guid FW_GUID_PCIE = {{0x54, 0xe9, 0x95, 0xd9, 0xc1, 0xbb, 0x0f, 0x43, 0xad, 0x91, 0xb4, 0x4d,
                               0xcb, 0x3c, 0x6f, 0x35}};
const fw_guid FW_GUID_PROC = {{0xad, 0xcc, 0x76, 0x98, 0xb4, 0x47, 0xdb, 0x4b, 0xb6, 0x5e, 0x16, 0xf1,
                               0x93, 0xc4, 0xf3, 0xdb}};
const fw_guid FW_GUID_FWREF = {{0x96, 0x2a, 0x21, 0x81, 0xed, 0x09, 0x96, 0x49, 0x94, 0x71, 0x8d, 0x72,
                                0x9c, 0x8e, 0x69, 0xed}};

const char *fw_core_version(void) { return FWEMU_VERSION; }

/* ---- little-endian access ------------------------------------------------------------ */
static void put8(uint8_t *p, uint8_t v) { p[0] = v; }
static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32); }

/* ---- platform memory section (80 bytes) ---------------------------------------------- */
int fw_mem_encode(const fw_mem_section *s, uint8_t *out, size_t cap) {
    if (cap < FW_MEM_LEN) return FW_E_NOSPACE;
    put64(out + 0, s->validation_bits);
    put64(out + 8, s->error_status);
    put64(out + 16, s->physical_addr);
    put64(out + 24, s->physical_addr_mask);
    put16(out + 32, s->node);
    put16(out + 34, s->card);
    put16(out + 36, s->module);
    put16(out + 38, s->bank);
    put16(out + 40, s->device);
    put16(out + 42, s->row);
    put16(out + 44, s->column);
    put16(out + 46, s->bit_pos);
    put64(out + 48, s->requestor_id);
    put64(out + 56, s->responder_id);
    put64(out + 64, s->target_id);
    put8(out + 72, s->error_type);
    put8(out + 73, s->extended);
    put16(out + 74, s->rank);
    put16(out + 76, s->mem_array_handle);
    put16(out + 78, s->mem_dev_handle);
    return (int)FW_MEM_LEN;
}

int fw_mem_decode(const uint8_t *b, size_t len, fw_mem_section *s) {
    if (len < FW_MEM_LEN) return FW_E_TRUNC;
    s->validation_bits = get64(b + 0);
    s->error_status = get64(b + 8);
    s->physical_addr = get64(b + 16);
    s->physical_addr_mask = get64(b + 24);
    s->node = get16(b + 32);
    s->card = get16(b + 34);
    s->module = get16(b + 36);
    s->bank = get16(b + 38);
    s->device = get16(b + 40);
    s->row = get16(b + 42);
    s->column = get16(b + 44);
    s->bit_pos = get16(b + 46);
    s->requestor_id = get64(b + 48);
    s->responder_id = get64(b + 56);
    s->target_id = get64(b + 64);
    s->error_type = b[72];
    s->extended = b[73];
    s->rank = get16(b + 74);
    s->mem_array_handle = get16(b + 76);
    s->mem_dev_handle = get16(b + 78);
    return FW_OK;
}

/* ---- ARM processor section ------------------------------------------------------------ */
static uint32_t arm_align(const fw_arm_section *s) { return s->ctx_align ? s->ctx_align : FW_ARM_CTX_ALIGN; }

/* Padding written after a context block's registers. */
static uint64_t ctx_pad_len(const fw_arm_ctx *c, uint32_t align) {
    if (c->pad) return c->pad_len;
    uint64_t n = FW_ARM_CTX_HDR_LEN + (uint64_t)c->size;
    return (align - n % align) % align;
}

static uint64_t arm_length(const fw_arm_section *s) {
    uint64_t n = FW_ARM_HDR_LEN + (uint64_t)FW_ARM_INFO_LEN * s->err_info_num + s->vendor_len;
    for (uint32_t i = 0; i < s->context_info_num; i++)
        n += FW_ARM_CTX_HDR_LEN + (uint64_t)s->ctx[i].size + ctx_pad_len(&s->ctx[i], arm_align(s));
    return n;
}

int fw_arm_encode(const fw_arm_section *s, uint8_t *out, size_t cap) {
    uint32_t align = arm_align(s);
    if (align & (align - 1)) return FW_E_INVAL; /* a power of two */
    if (s->context_info_num && !s->ctx) return FW_E_INVAL;
    uint64_t len = arm_length(s);
    if (len > 0x7fffffff) return FW_E_INVAL;
    if (len > cap) return FW_E_NOSPACE;
    if ((s->err_info_num && !s->err_info) || (s->context_info_num && !s->ctx) ||
        (s->vendor_len && !s->vendor))
        return FW_E_INVAL;
    put32(out + 0, s->validation_bits);
    put16(out + 4, s->err_info_num);
    put16(out + 6, s->context_info_num);
    put32(out + 8, s->section_length ? s->section_length : (uint32_t)len);
    put8(out + 12, s->affinity_level);
    memset(out + 13, 0, 3);
    put64(out + 16, s->mpidr);
    put64(out + 24, s->midr);
    put32(out + 32, s->running_state);
    put32(out + 36, s->psci_state);
    uint8_t *p = out + FW_ARM_HDR_LEN;
    for (uint32_t i = 0; i < s->err_info_num; i++, p += FW_ARM_INFO_LEN) {
        const fw_arm_err_info *e = &s->err_info[i];
        put8(p + 0, e->version);
        put8(p + 1, e->length);
        put16(p + 2, e->validation_bits);
        put8(p + 4, e->type);
        put16(p + 5, e->multiple_error);
        put8(p + 7, e->flags);
        put64(p + 8, e->error_info);
        put64(p + 16, e->virt_fault_addr);
        put64(p + 24, e->physical_fault_addr);
    }
    for (uint32_t i = 0; i < s->context_info_num; i++) {
        const fw_arm_ctx *c = &s->ctx[i];
        if (c->size && !c->regs) return FW_E_INVAL;
        put16(p + 0, c->version);
        put16(p + 2, c->type);
        put32(p + 4, c->size);
        if (c->size) memcpy(p + FW_ARM_CTX_HDR_LEN, c->regs, c->size);
        p += FW_ARM_CTX_HDR_LEN + c->size;
        uint32_t pad = (uint32_t)ctx_pad_len(c, align);
        if (c->pad && pad) memcpy(p, c->pad, pad);
        else if (pad) memset(p, 0, pad);
        p += pad;
    }
    if (s->vendor_len) memcpy(p, s->vendor, s->vendor_len);
    return (int)len;
}

/* Reads n context blocks from off, each followed by padding up to `align`; the padding of
 * every block must lie within len. *zero: all padding bytes are 0. *end: after the last. */
static int arm_walk_ctx(const uint8_t *b, size_t len, size_t off, uint32_t n, fw_arm_ctx *ctx,
                        uint32_t align, int *zero, size_t *end) {
    *zero = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (len - off < FW_ARM_CTX_HDR_LEN) return FW_E_TRUNC;
        const uint8_t *p = b + off;
        ctx[i].version = get16(p);
        ctx[i].type = get16(p + 2);
        ctx[i].size = get32(p + 4);
        off += FW_ARM_CTX_HDR_LEN;
        if (len - off < ctx[i].size) return FW_E_TRUNC;
        ctx[i].regs = b + off;
        off += ctx[i].size;
        uint32_t pad = (uint32_t)((align - (FW_ARM_CTX_HDR_LEN + (uint64_t)ctx[i].size) % align) % align);
        if (len - off < pad) return FW_E_TRUNC;
        ctx[i].pad = b + off;
        ctx[i].pad_len = pad;
        for (uint32_t k = 0; k < pad; k++) *zero &= b[off + k] == 0;
        off += pad;
    }
    *end = off;
    return FW_OK;
}

/* Decodes exactly `len` bytes: the header's counts must account for every byte (with the
 * remainder as vendor bytes) and section_length must equal len, else FW_E_INVAL. */
int fw_arm_decode(const uint8_t *b, size_t len, fw_arm_section *s, fw_arm_err_info *info,
                  size_t max_info, fw_arm_ctx *ctx, size_t max_ctx) {
    if (len < FW_ARM_HDR_LEN) return FW_E_TRUNC;
    memset(s, 0, sizeof(*s));
    s->validation_bits = get32(b + 0);
    s->err_info_num = get16(b + 4);
    s->context_info_num = get16(b + 6);
    s->section_length = get32(b + 8);
    s->affinity_level = b[12];
    s->mpidr = get64(b + 16);
    s->midr = get64(b + 24);
    s->running_state = get32(b + 32);
    s->psci_state = get32(b + 36);
    if (s->err_info_num > max_info || s->context_info_num > max_ctx) return FW_E_NOSPACE;
    size_t off = FW_ARM_HDR_LEN;
    for (uint32_t i = 0; i < s->err_info_num; i++, off += FW_ARM_INFO_LEN) {
        if (len - off < FW_ARM_INFO_LEN) return FW_E_TRUNC;
        const uint8_t *p = b + off;
        fw_arm_err_info *e = &info[i];
        e->version = p[0];
        e->length = p[1];
        e->validation_bits = get16(p + 2);
        e->type = p[4];
        e->multiple_error = get16(p + 5);
        e->flags = p[7];
        e->error_info = get64(p + 8);
        e->virt_fault_addr = get64(p + 16);
        e->physical_fault_addr = get64(p + 24);
    }
    /* Context blocks: the UEFI layout with zero padding, else back to back, else the UEFI
     * layout with whatever padding bytes it has. */
    int zero = 0;
    size_t end = 0;
    int rc = arm_walk_ctx(b, len, off, s->context_info_num, ctx, FW_ARM_CTX_ALIGN, &zero, &end);
    s->ctx_align = FW_ARM_CTX_ALIGN;
    if (rc != FW_OK || !zero) {
        size_t end1 = 0;
        int rc1 = arm_walk_ctx(b, len, off, s->context_info_num, ctx, 1, &zero, &end1);
        if (rc1 == FW_OK) {
            s->ctx_align = 1;
            end = end1;
        } else if (rc == FW_OK) {
            rc = arm_walk_ctx(b, len, off, s->context_info_num, ctx, FW_ARM_CTX_ALIGN, &zero, &end);
        } else {
            return rc1;
        }
    }
    off = end;
    s->err_info = info;
    s->ctx = ctx;
    s->vendor = b + off;
    s->vendor_len = (uint32_t)(len - off);
    if (s->section_length != len) return FW_E_INVAL;
    return FW_OK;
}

/* ---- PCIe section (208 bytes) ------------------------------------------------------------ */
int fw_pcie_encode(const fw_pcie_section *s, uint8_t *o, size_t cap) {
    if (cap < FW_PCIE_LEN) return FW_E_NOSPACE;
    memset(o, 0, FW_PCIE_LEN);
    put64(o + 0, s->validation_bits);
    put32(o + 8, s->port_type);
    put8(o + 12, s->version_minor);
    put8(o + 13, s->version_major);
    put16(o + 16, s->command);
    put16(o + 18, s->status);
    put16(o + 24, s->vendor_id);
    put16(o + 26, s->device_id);
    memcpy(o + 28, s->class_code, 3);
    put8(o + 31, s->function);
    put8(o + 32, s->device);
    put16(o + 33, s->segment);
    put8(o + 35, s->bus);
    put8(o + 36, s->secondary_bus);
    put16(o + 37, s->slot);
    put64(o + 40, s->serial_number);
    put16(o + 48, s->bridge_secondary_status);
    put16(o + 50, s->bridge_control);
    memcpy(o + 52, s->capability, 60);
    memcpy(o + 112, s->aer_info, 96);
    return (int)FW_PCIE_LEN;
}

int fw_pcie_decode(const uint8_t *b, size_t len, fw_pcie_section *s) {
    if (len < FW_PCIE_LEN) return FW_E_TRUNC;
    s->validation_bits = get64(b + 0);
    s->port_type = get32(b + 8);
    s->version_minor = b[12];
    s->version_major = b[13];
    s->command = get16(b + 16);
    s->status = get16(b + 18);
    s->vendor_id = get16(b + 24);
    s->device_id = get16(b + 26);
    memcpy(s->class_code, b + 28, 3);
    s->function = b[31];
    s->device = b[32];
    s->segment = get16(b + 33);
    s->bus = b[35];
    s->secondary_bus = b[36];
    s->slot = get16(b + 37);
    s->serial_number = get64(b + 40);
    s->bridge_secondary_status = get16(b + 48);
    s->bridge_control = get16(b + 50);
    memcpy(s->capability, b + 52, 60);
    memcpy(s->aer_info, b + 112, 96);
    return FW_OK;
}

/* ---- processor generic section (192 bytes) ------------------------------------------------ */
int fw_proc_encode(const fw_proc_section *s, uint8_t *o, size_t cap) {
    if (cap < FW_PROC_LEN) return FW_E_NOSPACE;
    memset(o, 0, FW_PROC_LEN);
    put64(o + 0, s->validation_bits);
    put8(o + 8, s->proc_type);
    put8(o + 9, s->proc_isa);
    put8(o + 10, s->proc_error_type);
    put8(o + 11, s->operation);
    put8(o + 12, s->flags);
    put8(o + 13, s->level);
    put64(o + 16, s->cpu_version);
    memcpy(o + 24, s->cpu_brand, 128);
    put64(o + 152, s->proc_id);
    put64(o + 160, s->target_addr);
    put64(o + 168, s->requestor_id);
    put64(o + 176, s->responder_id);
    put64(o + 184, s->ip);
    return (int)FW_PROC_LEN;
}

int fw_proc_decode(const uint8_t *b, size_t len, fw_proc_section *s) {
    if (len < FW_PROC_LEN) return FW_E_TRUNC;
    s->validation_bits = get64(b + 0);
    s->proc_type = b[8];
    s->proc_isa = b[9];
    s->proc_error_type = b[10];
    s->operation = b[11];
    s->flags = b[12];
    s->level = b[13];
    s->cpu_version = get64(b + 16);
    memcpy(s->cpu_brand, b + 24, 128);
    s->proc_id = get64(b + 152);
    s->target_addr = get64(b + 160);
    s->requestor_id = get64(b + 168);
    s->responder_id = get64(b + 176);
    s->ip = get64(b + 184);
    return FW_OK;
}

/* ---- firmware error record reference (32 bytes + trailing) -------------------------------- */
int fw_fwref_encode(const fw_fwref_section *s, uint8_t *o, size_t cap) {
    uint64_t len = (uint64_t)FW_FWREF_LEN + s->trailing_len;
    if (len > cap) return FW_E_NOSPACE;
    if (s->trailing_len && !s->trailing) return FW_E_INVAL;
    memset(o, 0, FW_FWREF_LEN);
    put8(o + 0, s->record_type);
    put8(o + 1, s->revision);
    put64(o + 8, s->record_identifier);
    memcpy(o + 16, s->record_identifier_guid.b, 16);
    if (s->trailing_len) memcpy(o + FW_FWREF_LEN, s->trailing, s->trailing_len);
    return (int)len;
}

int fw_fwref_decode(const uint8_t *b, size_t len, fw_fwref_section *s) {
    if (len < FW_FWREF_LEN) return FW_E_TRUNC;
    s->record_type = b[0];
    s->revision = b[1];
    s->record_identifier = get64(b + 8);
    memcpy(s->record_identifier_guid.b, b + 16, 16);
    s->trailing = b + FW_FWREF_LEN;
    s->trailing_len = (uint32_t)(len - FW_FWREF_LEN);
    return FW_OK;
}

/* ---- status block ------------------------------------------------------------------------ */
static int sev_correctable(uint32_t severity) {
    return severity == FW_SEV_CORRECTED || severity == FW_SEV_INFO;
}

uint32_t fw_auto_block_status(uint32_t severity, const fw_gde *gdes, size_t n) {
    if (n == 0) return sev_correctable(severity) ? FW_BS_CE : FW_BS_UE;
    size_t ue = 0, ce = 0;
    for (size_t i = 0; i < n; i++) {
        if (sev_correctable(gdes[i].severity))
            ce++;
        else
            ue++;
    }
    uint32_t status = (ue ? FW_BS_UE : 0) | (ce ? FW_BS_CE : 0) | (ue > 1 ? FW_BS_MULTI_UE : 0) |
                      (ce > 1 ? FW_BS_MULTI_CE : 0);
    uint32_t count = n > 0x3FF ? 0x3FFu : (uint32_t)n;
    return status | (count << FW_BS_COUNT_SHIFT);
}

static uint32_t gde_hdr_len(uint16_t revision) {
    return (revision >> 8) >= 3 ? FW_GDE_LEN_V3 : FW_GDE_LEN_V2;
}

static void put_gde(uint8_t *p, const fw_gde *g, uint32_t body_len) {
    memcpy(p + 0, g->section_type.b, 16);
    put32(p + 16, g->severity);
    put16(p + 20, g->revision);
    put8(p + 22, g->validation_bits);
    put8(p + 23, g->flags);
    put32(p + 24, g->override_length ? g->data_length_override : body_len);
    memcpy(p + 28, g->fru_id.b, 16);
    memcpy(p + 44, g->fru_text, 20);
    if (gde_hdr_len(g->revision) == FW_GDE_LEN_V3) put64(p + 64, g->timestamp);
}

/* Writes the 20-byte header for `data_len` bytes of entries. */
static void put_header(uint8_t *out, const fw_estatus *st, uint32_t data_len, const fw_gde *gdes,
                       size_t n) {
    uint32_t status = (st->flags & FW_EST_AUTO_STATUS) ? fw_auto_block_status(st->severity, gdes, n)
                                                         : st->block_status;
    uint32_t raw_off = 0;
    if (st->flags & FW_EST_OVERRIDE_RAW_OFFSET)
        raw_off = st->raw_data_offset;
    else if (st->raw_data_len)
        raw_off = FW_ESTATUS_HDR_LEN + data_len;
    put32(out + 0, status);
    put32(out + 4, raw_off);
    put32(out + 8, st->raw_data_len);
    put32(out + 12, (st->flags & FW_EST_OVERRIDE_DATA_LENGTH) ? st->data_length : data_len);
    put32(out + 16, st->severity);
}

int fw_estatus_assemble(const fw_estatus *st, const fw_gde *gdes, const uint8_t *const *bodies,
                        const uint32_t *body_lens, size_t n, uint8_t *out, size_t cap) {
    uint64_t total = FW_ESTATUS_HDR_LEN;
    for (size_t i = 0; i < n; i++) total += gde_hdr_len(gdes[i].revision) + (uint64_t)body_lens[i];
    uint64_t data_len = total - FW_ESTATUS_HDR_LEN;
    total += st->raw_data_len;
    if (total > 0x7fffffff) return FW_E_INVAL;
    if (total > cap) return FW_E_NOSPACE;
    if (st->raw_data_len && !st->raw_data) return FW_E_INVAL;
    uint8_t *p = out + FW_ESTATUS_HDR_LEN;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = gde_hdr_len(gdes[i].revision);
        if (body_lens[i] && !bodies[i]) return FW_E_INVAL;
        put_gde(p, &gdes[i], body_lens[i]);
        if (body_lens[i]) memcpy(p + h, bodies[i], body_lens[i]);
        p += h + body_lens[i];
    }
    if (st->raw_data_len) memcpy(p, st->raw_data, st->raw_data_len);
    put_header(out, st, (uint32_t)data_len, gdes, n);
    return (int)total;
}

int fw_encode_block(const fw_estatus *st, const fw_gde *gde, int kind, const void *section,
                    uint8_t *out, size_t cap) {
    uint32_t h = gde_hdr_len(gde->revision);
    if (cap < FW_ESTATUS_HDR_LEN + h) return FW_E_NOSPACE;
    if (!section) return FW_E_INVAL;
    uint8_t *body = out + FW_ESTATUS_HDR_LEN + h;
    size_t room = cap - FW_ESTATUS_HDR_LEN - h;
    int n;
    switch (kind) {
    case FW_SEC_MEM: n = fw_mem_encode(section, body, room); break;
    case FW_SEC_ARM: n = fw_arm_encode(section, body, room); break;
    case FW_SEC_PCIE: n = fw_pcie_encode(section, body, room); break;
    case FW_SEC_PROC: n = fw_proc_encode(section, body, room); break;
    case FW_SEC_FWREF: n = fw_fwref_encode(section, body, room); break;
    default: return FW_E_KIND;
    }
    if (n < 0) return n;
    uint64_t total = (uint64_t)FW_ESTATUS_HDR_LEN + h + (uint64_t)n + st->raw_data_len;
    if (total > 0x7fffffff) return FW_E_INVAL;
    if (st->raw_data_len) {
        if (!st->raw_data) return FW_E_INVAL;
        if (total > cap) return FW_E_NOSPACE;
        memcpy(body + n, st->raw_data, st->raw_data_len);
    }
    put_gde(out + FW_ESTATUS_HDR_LEN, gde, (uint32_t)n);
    put_header(out, st, h + (uint32_t)n, gde, 1);
    return (int)total;
}

int fw_encode_mem_block(const fw_estatus *st, const fw_gde *gde, const fw_mem_section *tmpl,
                        uint64_t physical_addr, uint64_t timestamp, uint8_t *out, size_t cap) {
    uint32_t h = gde_hdr_len(gde->revision);
    uint64_t total = (uint64_t)FW_ESTATUS_HDR_LEN + h + FW_MEM_LEN + st->raw_data_len;
    if (total > cap) return FW_E_NOSPACE;
    if (st->raw_data_len && !st->raw_data) return FW_E_INVAL;
    uint8_t *g = out + FW_ESTATUS_HDR_LEN;
    put_gde(g, gde, FW_MEM_LEN);
    if (h == FW_GDE_LEN_V3) put64(g + 64, timestamp);
    fw_mem_encode(tmpl, g + h, FW_MEM_LEN);
    put64(g + h + 16, physical_addr);
    if (st->raw_data_len) memcpy(g + h + FW_MEM_LEN, st->raw_data, st->raw_data_len);
    put_header(out, st, h + FW_MEM_LEN, gde, 1);
    return (int)total;
}

/* The batch encodes record 0 fully, then copies it and patches the per-record fields:
 * the fixed parts are identical by construction, so this is byte-for-byte the same as n
 * calls of fw_encode_mem_block. */
int fw_batch_mem(const fw_estatus *st, const fw_gde *gde, const fw_mem_section *tmpl, size_t n,
                 const uint64_t *physical_addr, const uint64_t *timestamp,
                 const uint8_t *error_type, uint8_t *out, size_t stride) {
    if (n == 0) return 0;
    if (!physical_addr) return FW_E_INVAL;
    int len = fw_encode_mem_block(st, gde, tmpl, physical_addr[0], timestamp ? timestamp[0] : gde->timestamp,
                                  out, stride);
    if (len < 0) return len;
    uint32_t h = gde_hdr_len(gde->revision);
    uint8_t *sec0 = out + FW_ESTATUS_HDR_LEN + h;
    if (error_type) sec0[72] = error_type[0];
    for (size_t i = 1; i < n; i++) {
        uint8_t *r = out + i * stride;
        memcpy(r, out, (size_t)len);
        uint8_t *sec = r + FW_ESTATUS_HDR_LEN + h;
        put64(sec + 16, physical_addr[i]);
        if (timestamp && h == FW_GDE_LEN_V3) put64(sec - 8, timestamp[i]);
        if (error_type) sec[72] = error_type[i];
    }
    return len;
}

/* ---- judging ------------------------------------------------------------------------------ */
static const char *const rule_names[FW_RULE_COUNT] = {
    "valid", "G3", "L2", "L3", "H1", "H2", "E1", "E2", "E3", "short-input",
};
static const char *const rule_messages[FW_RULE_COUNT] = {
    "",
    "",
    "Truncated error status block!",
    "Invalid error status block length!",
    "Invalid CPER header!",
    "Invalid CPER header!",
    "Failed to read error status block!",
    "Failed to read error status block!",
    "Failed to read error status block!",
    "",
};

const char *fw_rule_name(int rule) {
    return (rule >= 0 && rule < FW_RULE_COUNT) ? rule_names[rule] : "?";
}
const char *fw_rule_kernel_message(int rule) {
    return (rule >= 0 && rule < FW_RULE_COUNT) ? rule_messages[rule] : "";
}

static int verdict(fw_verdict *v, int rule, uint32_t offset) {
    v->rule = rule;
    v->offset = offset;
    return rule;
}

int fw_section_kind(const fw_guid *g) {
    if (!memcmp(g->b, FW_GUID_MEM.b, 16)) return FW_SEC_MEM;
    if (!memcmp(g->b, FW_GUID_ARM.b, 16)) return FW_SEC_ARM;
    if (!memcmp(g->b, FW_GUID_PCIE.b, 16)) return FW_SEC_PCIE;
    if (!memcmp(g->b, FW_GUID_PROC.b, 16)) return FW_SEC_PROC;
    if (!memcmp(g->b, FW_GUID_FWREF.b, 16)) return FW_SEC_FWREF;
    return FW_SEC_RAW;
}

int fw_entry_next(const uint8_t *buf, size_t data_end, uint32_t *off, fw_entry_view *e) {
    if (*off == data_end) return 1;
    if (*off > data_end || data_end - *off < FW_GDE_LEN_V2) return FW_E_TRUNC;
    const uint8_t *p = buf + *off;
    memset(e, 0, sizeof(*e));
    e->offset = *off;
    memcpy(e->gde.section_type.b, p, 16);
    e->gde.severity = get32(p + 16);
    e->gde.revision = get16(p + 20);
    e->gde.validation_bits = p[22];
    e->gde.flags = p[23];
    e->body_len = get32(p + 24);
    memcpy(e->gde.fru_id.b, p + 28, 16);
    memcpy(e->gde.fru_text, p + 44, 20);
    e->hdr_len = gde_hdr_len(e->gde.revision);
    if (data_end - *off < e->hdr_len) return FW_E_TRUNC;                      /* E1 */
    if (e->hdr_len == FW_GDE_LEN_V3) e->gde.timestamp = get64(p + 64);
    if (data_end - *off - e->hdr_len < e->body_len) return FW_E_INVAL;         /* E2 */
    e->body_offset = *off + e->hdr_len;
    e->kind = fw_section_kind(&e->gde.section_type);
    *off += e->hdr_len + e->body_len;
    return FW_OK;
}

/* The order and arithmetic follow __ghes_peek_estatus / __ghes_check_estatus /
 * cper_estatus_check (linux-ghes-contract.md §3). The length the OS reads is the kernel's
 * u32 sum (cper_estatus_len), so a wrapping raw_data_offset + raw_data_length lands on L2
 * exactly as it does in the kernel; the H2 comparison is in size_t there, so 64-bit here.
 * E3 (leftover data) cannot fire given the kernel's loop (it stops only at an exact fit:
 * a short remainder fails the header check, E1); the rule id exists for completeness. */
int fw_check(const uint8_t *buf, size_t buflen, uint32_t error_block_length, fw_verdict *v) {
    memset(v, 0, sizeof(*v));
    if (buflen < 4) return verdict(v, FW_RULE_SHORT_INPUT, 0);
    uint32_t status = get32(buf);
    if (status == 0) return verdict(v, FW_RULE_G3_NO_STATUS, 0);
    if (buflen < FW_ESTATUS_HDR_LEN) return verdict(v, FW_RULE_SHORT_INPUT, (uint32_t)buflen);
    uint32_t raw_off = get32(buf + 4), raw_len = get32(buf + 8), data_len = get32(buf + 12);
    uint32_t len = raw_len ? raw_off + raw_len : FW_ESTATUS_HDR_LEN + data_len; /* u32, wraps */
    v->len = len;
    if (len < FW_ESTATUS_HDR_LEN) return verdict(v, FW_RULE_L2_TRUNCATED, raw_len ? 4 : 12);
    uint32_t limit = error_block_length && error_block_length < FW_MAX_BLOCK ? error_block_length : FW_MAX_BLOCK;
    if (len > limit) return verdict(v, FW_RULE_L3_LENGTH, raw_len ? 4 : 12);
    if (data_len != 0 && data_len < FW_GDE_LEN_V2) return verdict(v, FW_RULE_H1_DATA_LENGTH, 12);
    if (raw_len != 0 && (uint64_t)raw_off < (uint64_t)FW_ESTATUS_HDR_LEN + data_len)
        return verdict(v, FW_RULE_H2_RAW_OFFSET, 4);
    if (buflen < len) return verdict(v, FW_RULE_SHORT_INPUT, (uint32_t)buflen);
    /* data_len <= len - 20 here unless raw data sits inside... H2 guarantees raw data is
     * after the entries, so the entries lie within the len bytes the kernel copied. */
    size_t data_end = FW_ESTATUS_HDR_LEN + (size_t)data_len;
    if (data_end > buflen) return verdict(v, FW_RULE_SHORT_INPUT, (uint32_t)buflen);
    uint32_t off = FW_ESTATUS_HDR_LEN;
    fw_entry_view e;
    for (;;) {
        uint32_t at = off;
        int rc = fw_entry_next(buf, data_end, &off, &e);
        if (rc == 1) break;
        if (rc == FW_E_TRUNC) return verdict(v, FW_RULE_E1_GDE_HEADER, at);
        /* Also E2: a header + error_data_length sum that wraps the kernel's u32 record
         * size. The kernel would then misparse (or, at 0, loop); we refuse it outright. */
        if (rc == FW_E_INVAL) return verdict(v, FW_RULE_E2_GDE_PAYLOAD, at + 24);
        v->entries++;
    }
    return verdict(v, FW_RULE_VALID, 0);
}
