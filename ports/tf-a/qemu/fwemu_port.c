/*
 * The fwemu target agent inside TF-A BL31 on QEMU virt (secure=on): the platform hooks of
 * csrc/agent/agent.h implemented with TF-A's APIs.
 *
 *   secure PL011 RX interrupt (Group 0, EHF priority PLAT_FWEMU_PRI)
 *     -> fwemu_uart_handler: drain the FIFO into the agent (fwa_poll)
 *     -> agent requests: ordered post into the GHES window, sdei_dispatch_event(), GIC
 *        pending for a GSIV, state reads from the SDEI dispatcher
 *
 * sdei_dispatch_event() is synchronous: it returns after the client's SDEI_EVENT_COMPLETE,
 * so the reply to an SDEI request says the handler ran (Linux's GHES SDEI handler has read
 * the block and written Read Ack by then).
 */
#include <stdint.h>
#include <string.h>

#include <arch_helpers.h>
#include <bl31/ehf.h>
#include <bl31/interrupt_mgmt.h>
#include <common/debug.h>
#include <drivers/arm/gicv3.h>
#include <lib/el3_runtime/context_mgmt.h>
#include <lib/mmio.h>
#include <lib/utils.h>
#include <plat/common/platform.h>
#include <services/sdei.h>
#include <platform_def.h>

#include "agent/agent.h"
#include "fwemu_port.h"

/* PL011 */
#define UARTDR		0x000U
#define UARTFR		0x018U
#define UARTIBRD	0x024U
#define UARTFBRD	0x028U
#define UARTLCR_H	0x02cU
#define UARTCR		0x030U
#define UARTIMSC	0x038U
#define UARTICR		0x044U
#define FR_RXFE		(1U << 4)
#define FR_TXFF		(1U << 5)
#define LCRH_FEN	(1U << 4)
#define LCRH_WLEN8	(3U << 5)
#define CR_UARTEN	(1U << 0)
#define CR_TXE		(1U << 8)
#define CR_RXE		(1U << 9)
#define IM_RX		(1U << 4)
#define IM_RT		(1U << 6)

static fwa_agent agent;
static unsigned int fwemu_from_ns;	/* the interrupted world was Non-secure */

static int uart_getc(void *ctx)
{
	(void)ctx;
	if ((mmio_read_32(FWEMU_UART_BASE + UARTFR) & FR_RXFE) != 0U)
		return -1;
	return (int)(mmio_read_32(FWEMU_UART_BASE + UARTDR) & 0xffU);
}

static void uart_putc(void *ctx, uint8_t c)
{
	(void)ctx;
	while ((mmio_read_32(FWEMU_UART_BASE + UARTFR) & FR_TXFF) != 0U)
		;
	mmio_write_32(FWEMU_UART_BASE + UARTDR, c);
}

static void *map(void *ctx, uint64_t pa, uint32_t len)
{
	(void)ctx;
	(void)len;
	/* identity mapped; the agent has checked [pa, pa + len) against the window */
	return (void *)(uintptr_t)pa;
}

static uint32_t refusal_reason(int ev)
{
	unsigned int bits = 0;

	/* TF-A's checks, in sdei_dispatch_event()'s order */
	if (ev == 0)
		return FWA_SDEI_WHY_EVENT0;
	if (sdei_fwemu_event_state(ev, &bits) != 0)
		return FWA_SDEI_WHY_NOT_EXPLICIT;	/* no mapping at all */
	if ((bits & FWA_SDEI_ST_PE_MASKED) != 0U)
		return FWA_SDEI_WHY_MASKED;
	if ((bits & FWA_SDEI_ST_EXPLICIT) == 0U)
		return FWA_SDEI_WHY_NOT_EXPLICIT;
	if ((bits & FWA_SDEI_ST_OUT_CRITICAL) != 0U ||
	    ((bits & FWA_SDEI_ST_OUT_NORMAL) != 0U && (bits & FWA_SDEI_ST_CRITICAL) == 0U))
		return FWA_SDEI_WHY_PRIORITY;
	return FWA_SDEI_WHY_STATE;
}

static int sdei_dispatch(void *ctx, uint32_t pe, uint32_t event, uint32_t *why)
{
	int rc;

	(void)ctx;
	/* Explicit events are private and dispatched on the calling PE only. */
	if (pe != plat_my_core_pos()) {
		*why = FWA_SDEI_WHY_UNKNOWN;
		return -2;
	}
	if (fwemu_from_ns == 0U) {
		*why = FWA_SDEI_WHY_UNKNOWN;
		return -3;	/* the dispatcher needs a Non-secure context to return to */
	}
	/*
	 * sdei_dispatch_event() restores the Non-secure EL1 system registers from the saved
	 * context before it enters the client; an interrupt taken from the Non-secure world
	 * does not save them, so save the live ones first (else the OS resumes on stale ones).
	 */
	cm_el1_sysregs_context_save(NON_SECURE);
	rc = sdei_dispatch_event((int)event);
	if (rc != 0)
		*why = refusal_reason((int)event);
	return rc;
}

static int sdei_state(void *ctx, uint32_t pe, uint32_t event, uint32_t *state)
{
	unsigned int bits;

	(void)ctx;
	if (pe != plat_my_core_pos())
		return -2;
	if (sdei_fwemu_event_state((int)event, &bits) != 0)
		return -1;
	*state = bits;
	return 0;
}

static int pend_irq(void *ctx, uint32_t pe, uint32_t intid)
{
	(void)ctx;
	/* SPIs only: the OS's GSIV is routed by the OS; a PPI/SGI would need the target PE */
	if (intid < 32U || intid >= 1020U || pe != plat_my_core_pos())
		return -1;
	plat_ic_set_interrupt_pending(intid);
	return 0;
}

static uint64_t time_us(void *ctx)
{
	uint64_t f = read_cntfrq_el0();
	uint64_t c = read_cntpct_el0();

	(void)ctx;
	return f ? c / f * 1000000ULL + (c % f) * 1000000ULL / f : 0;
}

static const fwa_platform plat = {
	.map = map,
	.sdei_dispatch = sdei_dispatch,
	.sdei_state = sdei_state,
	.pend_irq = pend_irq,
	.uart_getc = uart_getc,
	.uart_putc = uart_putc,
	.time_us = time_us,
};

static const fwa_window windows[] = {
	{FWEMU_WIN_BASE, FWEMU_WIN_SIZE, FWA_WIN_READ | FWA_WIN_WRITE},
};

static int fwemu_uart_handler(uint32_t intr_raw, uint32_t flags, void *handle, void *cookie)
{
	(void)handle;
	(void)cookie;
	fwemu_from_ns = (get_interrupt_src_ss(flags) == NON_SECURE) ? 1U : 0U;
	/*
	 * sdei_dispatch_event() refuses to run while the GIC's running priority is above the
	 * event's (EHF panics), so end this interrupt first. Masking the UART's own interrupt
	 * meanwhile keeps the handler from being re-entered while an SDEI dispatch it
	 * started runs in the Non-secure world (the dispatch is synchronous: it returns after
	 * the client's SDEI_EVENT_COMPLETE). Bytes that arrive meanwhile wait in the FIFO and
	 * raise the interrupt again once it is unmasked.
	 */
	mmio_write_32(FWEMU_UART_BASE + UARTIMSC, 0);
	plat_ic_end_of_interrupt(intr_raw);
	(void)fwa_poll(&agent, 0);
	mmio_write_32(FWEMU_UART_BASE + UARTIMSC, IM_RX | IM_RT);
	return 0;
}

void fwemu_agent_setup(void)
{
	uint64_t s;
	fwa_config cfg = {
		.plat = &plat,
		.board_id = "tfa-qemu",
		.pe_count = FWEMU_PE_COUNT,
		.windows = windows,
		.n_windows = 1,
		.boot_count = 0,
	};

	/* Every slice starts empty, its Error Status Address pointing at its block and its
	 * Read Ack showing an ack (1), so the first POST finds the source free. */
	zeromem((void *)(uintptr_t)FWEMU_WIN_BASE, FWEMU_WIN_SIZE);
	for (s = 0; s < FWEMU_SLICES; s++) {
		uintptr_t slice = (uintptr_t)(FWEMU_WIN_BASE + s * FWEMU_SLICE);

		mmio_write_64(slice + 0x0U, 1ULL);
		mmio_write_64(slice + 0x8U, (uint64_t)slice + 0x10U);
	}

	/* 8N1, FIFOs on; QEMU ignores the divisor but needs UARTEN/RXE to accept bytes */
	mmio_write_32(FWEMU_UART_BASE + UARTCR, 0);
	mmio_write_32(FWEMU_UART_BASE + UARTIBRD, 13);
	mmio_write_32(FWEMU_UART_BASE + UARTFBRD, 1);
	mmio_write_32(FWEMU_UART_BASE + UARTLCR_H, LCRH_WLEN8 | LCRH_FEN);
	mmio_write_32(FWEMU_UART_BASE + UARTICR, 0x7ffU);
	mmio_write_32(FWEMU_UART_BASE + UARTCR, CR_UARTEN | CR_TXE | CR_RXE);

	if (fwa_init(&agent, &cfg) != 0) {
		ERROR("fwemu: agent init failed\n");
		return;
	}
	ehf_register_priority_handler(PLAT_FWEMU_PRI, fwemu_uart_handler);
	mmio_write_32(FWEMU_UART_BASE + UARTIMSC, IM_RX | IM_RT);
	fwa_start(&agent);
	NOTICE("fwemu: agent on the secure UART (0x%lx, INTID %u), window 0x%llx+0x%llx\n",
	       (unsigned long)FWEMU_UART_BASE, FWEMU_UART_INTID,
	       (unsigned long long)FWEMU_WIN_BASE, (unsigned long long)FWEMU_WIN_SIZE);
}
