/* maildir: messages delivered as files into a Maildir. */
#ifndef DIGEST_MAILDIR_H
#define DIGEST_MAILDIR_H

#include <stddef.h>

/*
 * maildir_deliver: write MSG (LEN bytes, CRLF line ends) as one new
 * message in the Maildir DIR (its tmp/, new/ and cur/ created 0700 when
 * missing): written and fsync'd under tmp/, then renamed into new/, and
 * the directory fsync'd, so that a message is either whole in new/ or
 * absent. Lines are stored with LF ends, as mail readers expect of
 * Maildir files. The file's name (under new/) is put in NAME when it is
 * not NULL (at least 512 bytes). 0, or -1 with *ERR.
 */
int maildir_deliver(const char *dir, const char *msg, size_t len, char *name, char **err);

/* maildir_deliver_from: as maildir_deliver, with "Return-Path: <RETURN_PATH>"
 * written as the first line when RETURN_PATH is not NULL, as a delivery
 * agent records the envelope sender. */
int maildir_deliver_from(const char *dir, const char *return_path, const char *msg, size_t len, char *name,
			 char **err);

#endif
