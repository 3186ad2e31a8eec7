/* The runner (public API in tokenclip/tokenclip.h): a detector driven by a
 * video stream. It owns
 *
 *   the analysis lane   the detector, used by one thread at a time: the
 *                       submitting thread in sync mode; in async mode the
 *                       runner's thread, which marks it busy
 *   the overlay lane    a second Vulkan context (its own queue) with a frame
 *                       buffer and map, the submitting thread's alone: the
 *                       latest map blended into frames never waits behind an
 *                       analysis
 *   the pending slot    async: the newest frame to analyse, copied once into
 *                       the detector's frame slot the runner's thread is not
 *                       reading (a newer frame replaces it)
 *   the latest analysis shared under the lock, copied for the submitting
 *                       thread only when a newer one exists; a flush bumps
 *                       the generation, and analyses of older frames are
 *                       dropped
 *
 * One mutex and one condition guard all that is shared; nothing is
 * allocated per frame. Sync or async is chosen once, at creation (the submit
 * function). Parameters are checked by tc_runner_set_params and applied by
 * each lane's own thread before its next use. */
#ifndef TC_RUNNER_H
#define TC_RUNNER_H

#include "tokenclip/tokenclip.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Validation-layer messages of both lanes' contexts (0 unless validation is on). */
uint32_t tc_runner_validation_messages(const tc_runner *runner);

#ifdef __cplusplus
}
#endif

#endif
