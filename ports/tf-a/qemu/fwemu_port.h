/* fwemu target agent on TF-A plat/qemu: entry points the patched platform code calls. */
#ifndef FWEMU_PORT_H
#define FWEMU_PORT_H

/* BL2: remove the GHES window from the DT /memory node (called from update_dt()). */
int fwemu_dt_fixup(void *fdt);
/* BL31: set up the window, the secure UART and its EL3 interrupt, start the agent
 * (called at the end of bl31_platform_setup()). */
void fwemu_agent_setup(void);

/* services/std_svc/sdei (patched in): the dispatcher's state for an event on this PE,
 * as FWA_SDEI_ST_* bits; -1 when the event has no mapping. */
int sdei_fwemu_event_state(int ev_num, unsigned int *bits);

#endif
