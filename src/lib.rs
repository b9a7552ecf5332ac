//! tcpstate: reconstruct what happened to every TCP connection in a packet capture.
