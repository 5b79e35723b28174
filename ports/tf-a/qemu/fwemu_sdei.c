/*
 * SDEI event map for QEMU virt with the fwemu agent: replaces plat/qemu/common/qemu_sdei.c.
 * Event 0 on the secure SGI as stock TF-A has it, plus explicit private events for the
 * GHES sources, which the agent dispatches with sdei_dispatch_event().
 */
#include <bl31/ehf.h>
#include <common/debug.h>
#include <lib/utils_def.h>
#include <services/sdei.h>
#include <platform_def.h>

/* Sorted by event number, as the dispatcher requires. */
static sdei_ev_map_t qemu_sdei_private[] = {
	SDEI_DEFINE_EVENT_0(PLAT_SDEI_SGI_PRIVATE),
	SDEI_EXPLICIT_EVENT(FWEMU_SDEI_NORMAL_FIRST + 0, SDEI_MAPF_NORMAL),
	SDEI_EXPLICIT_EVENT(FWEMU_SDEI_NORMAL_FIRST + 1, SDEI_MAPF_NORMAL),
	SDEI_EXPLICIT_EVENT(FWEMU_SDEI_NORMAL_FIRST + 2, SDEI_MAPF_NORMAL),
	SDEI_EXPLICIT_EVENT(FWEMU_SDEI_CRITICAL_FIRST + 0, SDEI_MAPF_CRITICAL),
	SDEI_EXPLICIT_EVENT(FWEMU_SDEI_CRITICAL_FIRST + 1, SDEI_MAPF_CRITICAL),
};

static sdei_ev_map_t qemu_sdei_shared[] = {
};

void plat_sdei_setup(void)
{
	INFO("SDEI platform setup (fwemu: explicit events %d-%d)\n",
	     FWEMU_SDEI_NORMAL_FIRST, FWEMU_SDEI_CRITICAL_FIRST + 1);
}

REGISTER_SDEI_MAP(qemu_sdei_private, qemu_sdei_shared);
