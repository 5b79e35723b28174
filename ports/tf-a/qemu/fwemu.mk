# fwemu target agent for TF-A plat/qemu, included by plat/qemu/qemu/platform.mk when
# FWEMU_AGENT=1 (tf-a.patch). FWEMU_PORT is this directory, FWEMU_CSRC the project's csrc/.
ifeq (${FWEMU_PORT},)
$(error FWEMU_AGENT=1 needs FWEMU_PORT=<fwemu>/ports/tf-a/qemu)
endif
FWEMU_CSRC		?=	${FWEMU_PORT}/../../../csrc

ifneq (${SDEI_SUPPORT},1)
$(error the fwemu agent dispatches SDEI events: build with SDEI_SUPPORT=1)
endif
ifneq (${EL3_EXCEPTION_HANDLING},1)
$(error the fwemu agent runs from an EHF interrupt handler: build with EL3_EXCEPTION_HANDLING=1)
endif
ifneq (${QEMU_USE_GIC_DRIVER},QEMU_GICV3)
$(error the fwemu agent port is written for GICv3: build with QEMU_USE_GIC_DRIVER=QEMU_GICV3)
endif

PLAT_INCLUDES		+=	-I${FWEMU_PORT} -I${FWEMU_CSRC}

# the explicit events replace the stock map (event 0 only)
BL31_SOURCES		:=	$(filter-out plat/qemu/common/qemu_sdei.c,${BL31_SOURCES})
BL31_SOURCES		+=	${FWEMU_PORT}/fwemu_sdei.c			\
				${FWEMU_PORT}/fwemu_port.c			\
				${FWEMU_CSRC}/frame.c				\
				${FWEMU_CSRC}/ghes.c				\
				${FWEMU_CSRC}/agent/mp.c			\
				${FWEMU_CSRC}/agent/agent.c
BL2_SOURCES		+=	${FWEMU_PORT}/fwemu_bl2.c
