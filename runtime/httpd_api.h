/* GNU libmicrohttpd, loaded on first use (see dynlib.h) like libpq: only
 * `drun ledger serve` needs an HTTP server. Call the functions as
 * lmhd.MHD_xxx(...). */
#ifndef DRUN_HTTPD_API_H
#define DRUN_HTTPD_API_H
#include <microhttpd.h>

#define MHD_FUNCTIONS(X)                                                                                       \
  X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_run_wait) X(MHD_get_connection_values)                        \
  X(MHD_create_response_from_buffer) X(MHD_add_response_header) X(MHD_queue_response) X(MHD_destroy_response)  \
  X(MHD_lookup_connection_value)

#define MHD_POINTER(name) __typeof__(&name) name;
struct mhd_api {
  MHD_FUNCTIONS(MHD_POINTER)
};
#undef MHD_POINTER

extern struct mhd_api lmhd;

/* Loads libmicrohttpd once; 0, or -1 with *err set. */
int mhd_load(const char **err);
#endif
