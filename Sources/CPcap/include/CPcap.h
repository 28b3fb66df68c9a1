// SwiftPM builds the CPcap module from this header alone: Swift calls libpcap's own
// functions (pcap_create, pcap_dispatch, pcap_stats, ...) directly. A .c file appears only
// when a function below needs one (a function-like macro, a varargs call).
#ifndef CPCAP_H
#define CPCAP_H
#include <pcap/pcap.h>
// __fsetlocking: libpcap reads a capture file through stdio, which locks the FILE on every
// fread (two per packet); the one thread reading it can take that off (see PcapHandle).
#include <stdio_ext.h>
#endif
