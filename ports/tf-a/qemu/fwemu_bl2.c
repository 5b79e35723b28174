/*
 * BL2 side of the fwemu port: take the GHES window out of the DT /memory node before BL33
 * (UEFI) reads it, so neither UEFI nor the OS ever uses those pages as RAM.
 */
#include <common/debug.h>
#include <libfdt.h>
#include <platform_def.h>

#include "fwemu_port.h"

int fwemu_dt_fixup(void *fdt)
{
	int node = fdt_path_offset(fdt, "/memory");
	const fdt32_t *reg;
	uint64_t base, size;
	fdt32_t cells[4];
	int len;

	if (node < 0) {
		ERROR("fwemu: no /memory node in the DT\n");
		return -1;
	}
	reg = fdt_getprop(fdt, node, "reg", &len);
	if (reg == NULL || len < 16) {	/* QEMU virt: two address cells, two size cells */
		ERROR("fwemu: unexpected /memory reg\n");
		return -1;
	}
	base = ((uint64_t)fdt32_to_cpu(reg[0]) << 32) | fdt32_to_cpu(reg[1]);
	size = ((uint64_t)fdt32_to_cpu(reg[2]) << 32) | fdt32_to_cpu(reg[3]);
	if (base + size != FWEMU_RAM_END || FWEMU_WIN_BASE + FWEMU_WIN_SIZE != FWEMU_RAM_END) {
		ERROR("fwemu: RAM ends at 0x%llx, the GHES window needs it to end at 0x%llx (-m 1G)\n",
		      (unsigned long long)(base + size), (unsigned long long)FWEMU_RAM_END);
		return -1;
	}
	size -= FWEMU_WIN_SIZE;
	cells[0] = cpu_to_fdt32((uint32_t)(base >> 32));
	cells[1] = cpu_to_fdt32((uint32_t)base);
	cells[2] = cpu_to_fdt32((uint32_t)(size >> 32));
	cells[3] = cpu_to_fdt32((uint32_t)size);
	if (fdt_setprop_inplace(fdt, node, "reg", cells, sizeof(cells)) != 0) {
		ERROR("fwemu: cannot shrink /memory\n");
		return -1;
	}
	NOTICE("fwemu: GHES window 0x%llx-0x%llx taken out of /memory\n",
	       (unsigned long long)FWEMU_WIN_BASE,
	       (unsigned long long)(FWEMU_WIN_BASE + FWEMU_WIN_SIZE - 1));
	return 0;
}
