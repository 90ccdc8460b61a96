/* libpq, loaded on first use (see dynlib.h) like libcurl: a ledger on
 * PostgreSQL costs nothing to the runs that never use one. Call the
 * functions as lpq.PQxxx(...). */
#ifndef DRUN_PQ_API_H
#define DRUN_PQ_API_H
#include <libpq-fe.h>

#define PQ_FUNCTIONS(X)                                                                                       \
  X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQfinish) X(PQexecParams) X(PQresultStatus)           \
  X(PQresultErrorMessage) X(PQresultErrorField) X(PQclear) X(PQntuples) X(PQnfields) X(PQfname) X(PQftype)  \
  X(PQgetisnull) X(PQgetvalue) X(PQgetlength) X(PQcmdTuples) X(PQsetNoticeProcessor) X(PQparameterStatus)

#define PQ_POINTER(name) __typeof__(&name) name;
struct pq_api {
  PQ_FUNCTIONS(PQ_POINTER)
};
#undef PQ_POINTER

extern struct pq_api lpq;

/* Loads libpq once; 0, or -1 with *err set. */
int pq_load(const char **err);
#endif
