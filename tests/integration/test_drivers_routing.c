/*
 * test_drivers_routing.c - the driver workloads of test_drivers.c with read
 * routing on: the database lists the cluster's replica and reads go there,
 * the drivers' own checks (their reads of their own writes included) must
 * still find 0 errors.
 */
#define DRIVERS_READ_ROUTING 1
#include "test_drivers.c"
