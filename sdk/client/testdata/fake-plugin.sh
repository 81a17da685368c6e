#!/bin/sh
# Not a plugin: a fixture for the checksum tests.
exit 0
