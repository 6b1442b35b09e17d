/*
 * fw_board_host.h - the host port's setup call: the simulator and the unit
 * tests pick the file that plays the NV region (its HUK lives beside it in
 * <path>.huk). It must never be compiled into a device image.
 */
#ifndef FW_BOARD_HOST_H
#define FW_BOARD_HOST_H

/* Open (creating if needed) the NV file; 0 or -FW_ST_NV. */
int fw_host_board_open(const char *nv_path);
void fw_host_board_close(void);

#endif
