/*
 * The firmware model's two common journal lines (an injection accepted; an injection
 * ended with every instant known, no reason and no extras), formatted in C: on the sim,
 * formatting them in Python was the largest single cost of an injection (its 14 floats
 * alone about 3 µs). Hosted code for the host side only, never linked into the agent.
 *
 * The text is byte for byte what injection.py's Python formatting writes: each float as
 * "%.6f" (latency "%.4f") of the same double, computed by the same IEEE operations, and
 * rounded exactly (half to even on a tie, as CPython and glibc round), ints as "%d",
 * the record as lowercase hex. Strings are given already as JSON text where they can
 * need escaping (scenario, fields); the others are fwemu's own ASCII names.
 */
#ifndef FWEMU_JLINE_H
#define FWEMU_JLINE_H

#include <stddef.h>
#include <stdint.h>

/* Returned when `out` is too small, or a float has no exact short form here (not finite,
 * or past 2^53 / 10^digits): the caller formats that line itself. */
#define FW_JLINE_NOFIT (-1)

/* x as "%.<digits>f" (digits 0..9) into out (at least 32 bytes); its length, or FW_JLINE_NOFIT. */
int fw_fixed(char *out, double x, int digits);

int fw_jline_accepted(char *out, size_t cap, uint64_t id, const char *scenario_json,
                      uint32_t source, const char *notify, uint32_t pe, const char *digest,
                      double accepted, const char *run, double m_accepted, uint32_t length,
                      uint32_t bs, const char *fields_json);

/* The final line; wall, acc: the injection's wall and monotonic instants of acceptance;
 * posted .. end: monotonic instants (wall times are wall + (t - acc), as in Python). */
int fw_jline_final(char *out, size_t cap, uint64_t id, const char *scenario_json,
                   uint32_t source, const char *notify, uint32_t pe, uint64_t block,
                   const char *digest, const char *state, double wall, double acc,
                   double posted, double notified, double consumed, double end,
                   const char *run, const char *fields_json, const uint8_t *record,
                   uint32_t length, const char *event);

/* Batches: n lines, each followed by '\n', into out; the total length, or FW_JLINE_NOFIT
 * when they do not all fit or a float has no exact short form (the caller then formats
 * that batch line by line). Columnar input, row i of each: numbers from arrays of n;
 * strings from a column of n NUL-ended strings laid end to end ("a\0bb\0c\0", as
 * b"\0".join() and cffi's terminating NUL give it), walked row by row; the records (final
 * line) end to end, row i's length[i] bytes. Each row's text is the single line's.
 * fw_jline_final_n's ends, unless NULL, gets where each line ends in out (just past its
 * '\n'), so a caller can put other lines between them; valid when the call succeeds. */
int fw_jline_accepted_n(char *out, size_t cap, size_t n, const uint64_t *id,
                        const char *scenario_json, const uint32_t *source, const char *notify,
                        const uint32_t *pe, const char *digest, const double *accepted,
                        const char *run, const double *m_accepted, const uint32_t *length,
                        const uint32_t *bs, const char *fields_json);

int fw_jline_final_n(char *out, size_t cap, size_t n, const uint64_t *id,
                     const char *scenario_json, const uint32_t *source, const char *notify,
                     const uint32_t *pe, const uint64_t *block, const char *digest,
                     const char *state, const double *wall, const double *acc,
                     const double *posted, const double *notified, const double *consumed,
                     const double *end, const char *run, const char *fields_json,
                     const uint8_t *records, const uint32_t *length, const char *event,
                     uint32_t *ends);

#endif
