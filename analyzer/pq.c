/* pq.c - open libpq on first use (see pq.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "analyzer/pq.h"

#define PQ_SONAME "libpq.so.5"

static struct pq_api api;
static bool api_ok;
static char api_error[256];
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

/* Fill api from libpq; on failure api_error says why and api_ok stays false. */
static void pq_open(void)
{
	const struct {
		const char *name;
		void **slot;
	} fns[] = {
	    {"PQconnectdb", (void **)&api.connectdb},
	    {"PQstatus", (void **)&api.status},
	    {"PQerrorMessage", (void **)&api.error_message},
	    {"PQfinish", (void **)&api.finish},
	    {"PQexec", (void **)&api.exec},
	    {"PQexecParams", (void **)&api.exec_params},
	    {"PQresultStatus", (void **)&api.result_status},
	    {"PQresultErrorMessage", (void **)&api.result_error_message},
	    {"PQntuples", (void **)&api.ntuples},
	    {"PQnfields", (void **)&api.nfields},
	    {"PQgetvalue", (void **)&api.getvalue},
	    {"PQgetisnull", (void **)&api.getisnull},
	    {"PQclear", (void **)&api.clear},
	};
	void *lib = dlopen(PQ_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (lib == NULL) {
		snprintf(api_error, sizeof(api_error), "cannot load %s (Debian package libpq5): %s",
		         PQ_SONAME, dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		*fns[i].slot = dlsym(lib, fns[i].name);
		if (*fns[i].slot == NULL) {
			snprintf(api_error, sizeof(api_error), "%s lacks %s", PQ_SONAME,
			         fns[i].name);
			dlclose(lib);
			return;
		}
	}
	api_ok = true;
}

const struct pq_api *pq_load(char *err, size_t errlen)
{
	pthread_once(&api_once, pq_open);
	if (api_ok)
		return &api;
	snprintf(err, errlen, "%s", api_error);
	return NULL;
}
