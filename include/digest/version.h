/* version: the program's version, shown by --version and in User-Agent. */
#ifndef DIGEST_VERSION_H
#define DIGEST_VERSION_H
#define DIGEST_VERSION "0.1.0"
#endif
