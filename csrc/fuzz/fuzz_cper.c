/*
 * libFuzzer harness for the C record decoder: fw_check (the kernel's estatus rules), the
 * entry walk (fw_entry_next) and every section decoder on whatever the entries point at.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fw_verdict v;
    uint32_t ebl = size >= 2 ? (uint32_t)(data[0] | data[1] << 8) : 0;
    fw_check(data, size, ebl, &v);
    (void)fw_rule_name(v.rule);
    (void)fw_rule_kernel_message(v.rule);
    if (size < FW_ESTATUS_HDR_LEN) return 0;
    uint32_t data_len = (uint32_t)(data[12] | data[13] << 8 | data[14] << 16 | (uint32_t)data[15] << 24);
    size_t end = FW_ESTATUS_HDR_LEN + (size_t)data_len;
    if (end > size) end = size;
    uint32_t off = FW_ESTATUS_HDR_LEN;
    for (int guard = 0; guard < 256; guard++) {
        fw_entry_view e;
        int rc = fw_entry_next(data, end, &off, &e);
        if (rc != FW_OK) break;
        if ((size_t)e.body_offset + e.body_len > size) break;
        const uint8_t *b = data + e.body_offset;
        size_t n = e.body_len;
        fw_mem_section m;
        fw_arm_section a;
        fw_arm_err_info info[8];
        fw_arm_ctx ctx[8];
        fw_pcie_section p;
        fw_proc_section c;
        fw_fwref_section f;
        switch (e.kind) {
        case FW_SEC_MEM: fw_mem_decode(b, n, &m); break;
        case FW_SEC_ARM: fw_arm_decode(b, n, &a, info, 8, ctx, 8); break;
        case FW_SEC_PCIE: fw_pcie_decode(b, n, &p); break;
        case FW_SEC_PROC: fw_proc_decode(b, n, &c); break;
        case FW_SEC_FWREF: fw_fwref_decode(b, n, &f); break;
        default: break;
        }
    }
    /* and each decoder on the raw input, whatever the GUIDs say */
    fw_mem_section m;
    fw_mem_decode(data, size, &m);
    fw_arm_section a;
    fw_arm_err_info info[4];
    fw_arm_ctx ctx[4];
    fw_arm_decode(data, size, &a, info, 4, ctx, 4);
    fw_pcie_section p;
    fw_pcie_decode(data, size, &p);
    fw_proc_section c;
    fw_proc_decode(data, size, &c);
    fw_fwref_section f;
    fw_fwref_decode(data, size, &f);
    return 0;
}
