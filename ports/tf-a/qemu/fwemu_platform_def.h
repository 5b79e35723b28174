/*
 * fwemu target agent on TF-A's plat/qemu (QEMU virt, secure=on): platform constants.
 * Included at the end of plat/qemu/qemu/include/platform_def.h when FWEMU_AGENT=1
 * (ports/tf-a/qemu/tf-a.patch), so these override the stock values.
 */
#ifndef FWEMU_PLATFORM_DEF_H
#define FWEMU_PLATFORM_DEF_H

/*
 * The GHES window: 64 KiB of non-secure RAM at the top of a 1 GiB guest. BL2 removes it
 * from the DT /memory node (fwemu_bl2.c), so UEFI never allocates it and Linux, which
 * then finds it in no EFI memory descriptor, maps it as device memory for APEI (arm64
 * acpi_os_ioremap). BL31 maps it non-cacheable (fwemu_port.c). The board file
 * (emulator/fwemu/boards/tfa-qemu.toml) and the HEST describe the same range.
 */
#define FWEMU_WIN_BASE		ULL(0x7fff0000)
#define FWEMU_WIN_SIZE		ULL(0x00010000)
#define FWEMU_RAM_END		ULL(0x80000000)	/* -m 1G */
/* Source slices: Read Ack @+0, Error Status Address @+8, block @+0x10 (1008 bytes). */
#define FWEMU_SLICE		U(0x400)
#define FWEMU_SLICES		(FWEMU_WIN_SIZE / FWEMU_SLICE)

#define MAP_FWEMU_WINDOW	MAP_REGION_FLAT(FWEMU_WIN_BASE, FWEMU_WIN_SIZE,	\
					MT_NON_CACHEABLE | MT_RW | MT_NS)

/*
 * The debug channel: QEMU's secure-only PL011 (the second -serial), SPI 8 = INTID 40,
 * Group 0 so it is taken at EL3 through EHF, at a priority of its own (EHF needs one per
 * handler; 0x50 is free beside the SDEI levels 0x60 critical and 0x70 normal). The handler
 * ends the interrupt before it runs the agent, so an SDEI dispatch starts from the idle
 * running priority (fwemu_port.c).
 */
#define FWEMU_UART_BASE		UART1_BASE
#define FWEMU_UART_INTID	U(40)
#define PLAT_FWEMU_PRI		0x50

#define PLAT_EHF_DESC		EHF_PRI_DESC(PLAT_PRI_BITS, PLAT_FWEMU_PRI)

#undef PLATFORM_G0_PROPS
#define PLATFORM_G0_PROPS(grp)						\
	DESC_G0_IRQ_SEC_SGI(grp),					\
	INTR_PROP_DESC(FWEMU_UART_INTID, PLAT_FWEMU_PRI, (grp),		\
		       GIC_INTR_CFG_LEVEL)

/* TF-A's crash console would write into the channel: keep it on the boot UART. */
#undef PLAT_QEMU_CRASH_UART_BASE
#define PLAT_QEMU_CRASH_UART_BASE	UART0_BASE

/*
 * Explicit private SDEI events for the GHES sources (the FVP's numbers): 5000-5002
 * normal, 5003-5004 critical. Event 0 stays on the secure SGI as in stock TF-A.
 */
/* PEs the agent serves (PE index 0 = the boot CPU, which takes the UART interrupt):
 * explicit events are dispatched on the calling PE, and the board runs QEMU with one. */
#define FWEMU_PE_COUNT		U(1)

#define FWEMU_SDEI_NORMAL_FIRST	5000
#define FWEMU_SDEI_CRITICAL_FIRST	5003

#endif
