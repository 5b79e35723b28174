/*
 * Debug-channel protocol constants (protocol/PROTOCOL.md). The host reads them through
 * the cffi core, so the numbers live here only.
 */
#ifndef FWA_PROTO_H
#define FWA_PROTO_H

#define FWA_PROTO_VERSION 1
#define FWA_PROTO_MIN_VERSION 1

/* Limits */
#define FWA_MAX_DATA 1024u   /* data bytes in one READ reply, WRITE, POST or POST_DATA */
#define FWA_MAX_WINDOWS 8u
#define FWA_BOARD_ID_MAX 32u
#define FWA_LOG_MAX 120u
#define FWA_DEDUPE_SLOTS 16u /* replies remembered by sequence number */
#define FWA_WATCH_SLOTS 16u  /* posted blocks watched for consumption */
#define FWA_MAX_INFLIGHT 8u  /* requests a host may have outstanding (< FWA_DEDUPE_SLOTS) */

/* Requests (host → agent): [type, seq, args...]; replies (agent → host): [type, seq, code,
 * results...] with the request's type and seq. Types 0x01-0x3F are requests/replies,
 * 0x40-0x7F events (one msgpack byte each). */
#define FWA_EV_FIRST 0x40 /* the first event type */
#define FWA_TYPE_MAX 0x7F /* the last event type */
#define FWA_SEQ_MAX 0xFFFF
#define FWA_T_HELLO 0x01
#define FWA_T_READ 0x02
#define FWA_T_WRITE 0x03
#define FWA_T_READ_REG 0x04
#define FWA_T_WRITE_REG 0x05
#define FWA_T_POST 0x06
#define FWA_T_POST_DATA 0x07
#define FWA_T_WITHDRAW 0x08
#define FWA_T_SEI 0x09
#define FWA_T_SDEI 0x0A
#define FWA_T_IRQ 0x0B
#define FWA_T_SEA 0x0C
#define FWA_T_SDEI_STATE 0x0D
#define FWA_T_STATUS 0x0E

/* Events (agent → host, unsolicited): [type, event_seq, args...] */
#define FWA_EV_CONSUMED 0x41
#define FWA_EV_LOG 0x42
#define FWA_EV_BOOT 0x43

/* Reply codes */
#define FWA_OK 0
#define FWA_E_MALFORMED 1   /* not a request of this protocol (schema) */
#define FWA_E_UNKNOWN 2     /* unknown request type */
#define FWA_E_NO_SESSION 3  /* no HELLO since the agent started: nothing was executed */
#define FWA_E_VERSION 4     /* no common protocol version */
#define FWA_E_WINDOW 5      /* address range outside the windows announced in HELLO */
#define FWA_E_BUSY 6        /* the block holds an unconsumed record (block_status != 0) */
#define FWA_E_TOO_BIG 7     /* length over FWA_MAX_DATA or the block */
#define FWA_E_REFUSED 8     /* the platform refused (TF-A code and reason follow) */
#define FWA_E_UNSUPPORTED 9 /* the platform has no hook for this */
#define FWA_E_INVAL 10      /* bad argument: PE index, register width, offset */
#define FWA_E_SEQ 11        /* sequence number reused for a different request */
#define FWA_E_STALE 12      /* older than every remembered request: not executed */

/* Capabilities (HELLO) */
#define FWA_CAP_SEI 0x01
#define FWA_CAP_SDEI 0x02
#define FWA_CAP_IRQ 0x04
#define FWA_CAP_SEA 0x08
#define FWA_CAP_SDEI_STATE 0x10
#define FWA_CAP_EVENTS 0x20 /* EV_CONSUMED for posted blocks */
#define FWA_CAP_STATUS_BLOB 0x40

/* HELLO reply map keys */
#define FWA_H_VERSION 1
#define FWA_H_CAPS 2
#define FWA_H_PES 3
#define FWA_H_MAX_PAYLOAD 4
#define FWA_H_BOARD 5
#define FWA_H_WINDOWS 6
#define FWA_H_BOOT 7
#define FWA_H_MAX_DATA 8

/* STATUS reply map keys */
#define FWA_S_BOOT 1
#define FWA_S_UPTIME_US 2
#define FWA_S_RX_FRAMES 3
#define FWA_S_CRC_ERRORS 4
#define FWA_S_BAD_FRAMES 5
#define FWA_S_BAD_MESSAGES 6
#define FWA_S_DUP_HITS 7
#define FWA_S_NOTIFICATIONS 8
#define FWA_S_EVENTS 9
#define FWA_S_WATCHES 10
#define FWA_S_BLOB 11

/* POST flags */
#define FWA_POST_FORCE 0x1 /* overwrite a pending block (fault injection only) */

/* EV_CONSUMED how */
#define FWA_CONSUMED_ACK 1     /* GHESv2: the OS wrote the Read Ack register */
#define FWA_CONSUMED_STATUS 2  /* GHES v1: block_status back to 0 */

/* SDEI refusal reasons (firmware-conventions.md §1.2, D1–D5) */
#define FWA_SDEI_WHY_UNKNOWN 0
#define FWA_SDEI_WHY_MASKED 1
#define FWA_SDEI_WHY_EVENT0 2
#define FWA_SDEI_WHY_NOT_EXPLICIT 3
#define FWA_SDEI_WHY_PRIORITY 4
#define FWA_SDEI_WHY_STATE 5

/* SDEI_STATE bits */
#define FWA_SDEI_ST_REGISTERED 0x1
#define FWA_SDEI_ST_ENABLED 0x2
#define FWA_SDEI_ST_RUNNING 0x4
#define FWA_SDEI_ST_PE_MASKED 0x8
#define FWA_SDEI_ST_CRITICAL 0x10
#define FWA_SDEI_ST_EXPLICIT 0x20     /* the platform may dispatch it explicitly */
#define FWA_SDEI_ST_OUT_NORMAL 0x40   /* a Normal dispatch is outstanding on the PE */
#define FWA_SDEI_ST_OUT_CRITICAL 0x80 /* a Critical dispatch is outstanding on the PE */

#endif
