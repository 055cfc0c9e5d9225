/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-identity"

#include "llm-identity.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/**
 * LlmIdentity:
 *
 * This node's Ed25519 key pair, and the `.llm` address it gives the node.
 *
 * The key lives in `DATA_DIR/identity.key` (%LLM_IDENTITY_FILE_NAME), mode
 * 0600 in a directory made 0700. The file is 93 bytes: the line
 * `llm-node identity v1 ed25519\n`, then libsodium's 64-byte secret key (the
 * 32-byte seed, then the 32-byte public key).
 *
 * The file is created once, atomically (written to a temporary file, then
 * hard-linked to its name, which fails if another process won the race), and
 * never written again: a file that is there but not a valid key is an error
 * that names it, and it stays untouched, because replacing it would silently
 * change the node's address.
 *
 * An identity is immutable once made, so it may be used from any thread.
 * The secret key sits in memory that libsodium locks and guards
 * (sodium_malloc()), and is wiped when the identity is finalized.
 */
struct _LlmIdentity
{
  GObject parent_instance;

  guint8 *secret_key;   /* crypto_sign_SECRETKEYBYTES, from sodium_malloc() */
  char *address;
  char *path;

  guint8 public_key[crypto_sign_PUBLICKEYBYTES];
};

G_DEFINE_FINAL_TYPE (LlmIdentity, llm_identity, G_TYPE_OBJECT)

G_DEFINE_QUARK (llm-identity-error-quark, llm_identity_error)

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PATH,
  PROP_PUBLIC_KEY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

#define FILE_HEADER     "llm-node identity v1 ed25519\n"
#define FILE_HEADER_LEN (sizeof FILE_HEADER - 1)
#define FILE_SIZE       (FILE_HEADER_LEN + crypto_sign_SECRETKEYBYTES)

G_STATIC_ASSERT (LLM_IDENTITY_SEED_SIZE == crypto_sign_SEEDBYTES);
G_STATIC_ASSERT (LLM_ADDRESS_PUBLIC_KEY_SIZE == crypto_sign_PUBLICKEYBYTES);
G_STATIC_ASSERT (LLM_ADDRESS_SIGNATURE_SIZE == crypto_sign_BYTES);

static void
ensure_sodium (void)
{
  if (sodium_init () < 0)
    g_error ("libsodium cannot initialize: no source of randomness?");
}

static void
llm_identity_finalize (GObject *object)
{
  LlmIdentity *self = LLM_IDENTITY (object);

  g_clear_pointer (&self->secret_key, sodium_free);
  g_clear_pointer (&self->address, g_free);
  g_clear_pointer (&self->path, g_free);

  G_OBJECT_CLASS (llm_identity_parent_class)->finalize (object);
}

static void
llm_identity_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  LlmIdentity *self = LLM_IDENTITY (object);

  switch (prop_id)
    {
    case PROP_ADDRESS:
      g_value_set_string (value, self->address);
      break;

    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;

    case PROP_PUBLIC_KEY:
      g_value_take_boxed (value, g_bytes_new (self->public_key, sizeof self->public_key));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_identity_class_init (LlmIdentityClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  ensure_sodium ();

  object_class->finalize = llm_identity_finalize;
  object_class->get_property = llm_identity_get_property;

  /**
   * LlmIdentity:address:
   *
   * The node's `.llm` address, derived from its public key.
   */
  properties[PROP_ADDRESS] =
    g_param_spec_string ("address", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmIdentity:path:
   *
   * The key file, or %NULL for an identity that lives only in memory.
   */
  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmIdentity:public-key:
   *
   * The 32-byte Ed25519 public key.
   */
  properties[PROP_PUBLIC_KEY] =
    g_param_spec_boxed ("public-key", NULL, NULL,
                        G_TYPE_BYTES,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_identity_init (LlmIdentity *self)
{
  self->secret_key = sodium_malloc (crypto_sign_SECRETKEYBYTES);
  if (self->secret_key == NULL)
    g_error ("Cannot allocate locked memory for a secret key");
}

/* Takes the secret key from @secret_key (64 bytes: seed, then public key). */
static LlmIdentity *
identity_new (const guint8 *secret_key,
              const char   *path)
{
  LlmIdentity *self = g_object_new (LLM_TYPE_IDENTITY, NULL);

  memcpy (self->secret_key, secret_key, crypto_sign_SECRETKEYBYTES);
  crypto_sign_ed25519_sk_to_pk (self->public_key, self->secret_key);
  self->address = llm_address_from_public_key (self->public_key);
  self->path = g_strdup (path);

  return self;
}

/**
 * llm_identity_new_from_seed:
 * @seed: 32 bytes
 *
 * Makes the identity of a seed, in memory only. The same seed always makes
 * the same key: this is for tests, which need fixed addresses.
 *
 * Returns: (transfer full): a new #LlmIdentity
 */
LlmIdentity *
llm_identity_new_from_seed (const guint8 *seed)
{
  guint8 public_key[crypto_sign_PUBLICKEYBYTES];
  guint8 *secret_key;
  LlmIdentity *self;

  g_return_val_if_fail (seed != NULL, NULL);

  ensure_sodium ();
  secret_key = sodium_malloc (crypto_sign_SECRETKEYBYTES);
  g_assert (secret_key != NULL);
  crypto_sign_seed_keypair (public_key, secret_key, seed);
  self = identity_new (secret_key, NULL);
  sodium_free (secret_key);

  return self;
}

/**
 * llm_identity_generate:
 *
 * Makes a new random identity, in memory only (nothing is written).
 *
 * Returns: (transfer full): a new #LlmIdentity
 */
LlmIdentity *
llm_identity_generate (void)
{
  guint8 seed[LLM_IDENTITY_SEED_SIZE];
  LlmIdentity *self;

  ensure_sodium ();
  randombytes_buf (seed, sizeof seed);
  self = llm_identity_new_from_seed (seed);
  sodium_memzero (seed, sizeof seed);

  return self;
}

/* "Cannot read the node identity “/path”: Permission denied" */
static void
set_error_from_errno (GError     **error,
                      int          saved_errno,
                      const char  *what,
                      const char  *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               "%s “%s”: %s", what, path, g_strerror (saved_errno));
}

static gboolean
read_exactly (int     fd,
              guint8 *buffer,
              gsize   size)
{
  gsize done = 0;

  while (done < size)
    {
      gssize n = read (fd, buffer + done, size - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += n;
    }

  return TRUE;
}

static gboolean
write_exactly (int           fd,
               const guint8 *buffer,
               gsize         size)
{
  gsize done = 0;

  while (done < size)
    {
      gssize n = write (fd, buffer + done, size - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += n;
    }

  return TRUE;
}

/* Loads the key at @path. Sets *missing when there is no file, which is not
 * an error: the caller creates one. Anything else that is wrong is an error,
 * and the file is never modified. */
static LlmIdentity *
identity_load (const char  *path,
               gboolean    *missing,
               GError     **error)
{
  g_autoptr(LlmIdentity) self = NULL;
  guint8 public_key[crypto_sign_PUBLICKEYBYTES];
  guint8 *contents;
  struct stat st;
  int fd;

  *missing = FALSE;

  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        {
          *missing = TRUE;
          return NULL;
        }
      set_error_from_errno (error, saved_errno, "Cannot read the node identity", path);
      return NULL;
    }

  if (fstat (fd, &st) != 0)
    {
      set_error_from_errno (error, errno, "Cannot read the node identity", path);
      close (fd);
      return NULL;
    }

  if (!S_ISREG (st.st_mode) || st.st_size != (goffset) FILE_SIZE)
    {
      g_set_error (error, LLM_IDENTITY_ERROR, LLM_IDENTITY_ERROR_INVALID,
                   "The node identity “%s” is not a valid key (%s; a key file has %d bytes). "
                   "It was left as it is: restore it from a backup, or move it away to make "
                   "a new identity (this node’s .llm address will change)",
                   path, S_ISREG (st.st_mode) ? "wrong size" : "not a regular file",
                   (int) FILE_SIZE);
      close (fd);
      return NULL;
    }

  if ((st.st_mode & 077) != 0)
    g_message ("The node identity “%s” can be read by other users (mode %04o): "
               "run “chmod 600 %s”", path, (guint) (st.st_mode & 07777), path);

  contents = sodium_malloc (FILE_SIZE);
  g_assert (contents != NULL);

  errno = 0;
  if (!read_exactly (fd, contents, FILE_SIZE))
    {
      set_error_from_errno (error, errno != 0 ? errno : EIO,
                            "Cannot read the node identity", path);
    }
  else if (memcmp (contents, FILE_HEADER, FILE_HEADER_LEN) != 0)
    {
      g_set_error (error, LLM_IDENTITY_ERROR, LLM_IDENTITY_ERROR_INVALID,
                   "The node identity “%s” is not a valid key (it does not start with "
                   "“llm-node identity v1 ed25519”). It was left as it is: restore it from "
                   "a backup, or move it away to make a new identity (this node’s .llm "
                   "address will change)", path);
    }
  else
    {
      guint8 *secret_key = contents + FILE_HEADER_LEN;
      guint8 *check = sodium_malloc (crypto_sign_SECRETKEYBYTES);

      /* The public half is stored beside the seed; recomputing it from the
       * seed catches a file damaged in either half. */
      g_assert (check != NULL);
      crypto_sign_seed_keypair (public_key, check, secret_key);
      sodium_free (check);

      if (sodium_memcmp (public_key, secret_key + crypto_sign_SEEDBYTES, sizeof public_key) != 0)
        g_set_error (error, LLM_IDENTITY_ERROR, LLM_IDENTITY_ERROR_INVALID,
                     "The node identity “%s” is corrupted (its public key does not match "
                     "its secret key). It was left as it is: restore it from a backup, or "
                     "move it away to make a new identity (this node’s .llm address will "
                     "change)", path);
      else
        self = identity_new (secret_key, path);
    }

  sodium_free (contents);
  close (fd);

  return g_steal_pointer (&self);
}

static void
sync_directory (const char *dir)
{
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

/* Writes a new key to @path, unless a file is already there, in which case
 * it sets *exists and touches nothing. */
static LlmIdentity *
identity_create (const char  *data_dir,
                 const char  *path,
                 gboolean    *exists,
                 GError     **error)
{
  g_autofree char *tmp_path = NULL;
  g_autoptr(LlmIdentity) self = NULL;
  guint8 public_key[crypto_sign_PUBLICKEYBYTES];
  guint8 *contents;
  gboolean written;
  int saved_errno;
  int fd;

  *exists = FALSE;

  if (g_mkdir_with_parents (data_dir, 0700) != 0)
    {
      set_error_from_errno (error, errno, "Cannot create the data directory", data_dir);
      return NULL;
    }

  contents = sodium_malloc (FILE_SIZE);
  g_assert (contents != NULL);
  memcpy (contents, FILE_HEADER, FILE_HEADER_LEN);
  crypto_sign_keypair (public_key, contents + FILE_HEADER_LEN);

  /* The whole key goes to a private temporary file first, so that the name
   * never points at half a key, even after a crash. */
  tmp_path = g_build_filename (data_dir, "." LLM_IDENTITY_FILE_NAME ".XXXXXX", NULL);
  fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      set_error_from_errno (error, errno, "Cannot create the node identity in",
                            data_dir);
      sodium_free (contents);
      return NULL;
    }

  written = fchmod (fd, 0600) == 0 && write_exactly (fd, contents, FILE_SIZE) && fsync (fd) == 0;
  saved_errno = errno;
  close (fd);

  if (!written)
    {
      g_unlink (tmp_path);
      set_error_from_errno (error, saved_errno, "Cannot write the node identity", path);
      sodium_free (contents);
      return NULL;
    }

  /* link() never replaces an existing file, unlike rename(): if another
   * process made an identity in the meantime, theirs wins and ours goes. */
  if (link (tmp_path, path) != 0)
    {
      saved_errno = errno;
      g_unlink (tmp_path);

      if (saved_errno == EEXIST)
        {
          *exists = TRUE;
          sodium_free (contents);
          return NULL;
        }

      if (saved_errno != EPERM && saved_errno != ENOTSUP && saved_errno != EOPNOTSUPP &&
          saved_errno != ENOSYS && saved_errno != EMLINK)
        {
          set_error_from_errno (error, saved_errno, "Cannot create the node identity",
                                path);
          sodium_free (contents);
          return NULL;
        }

      /* A file system without hard links: O_EXCL still never replaces a file,
       * and a half-written key is removed (it is ours) or, after a crash,
       * refused when loaded. */
      fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0)
        {
          saved_errno = errno;
          sodium_free (contents);
          if (saved_errno == EEXIST)
            {
              *exists = TRUE;
              return NULL;
            }
          set_error_from_errno (error, saved_errno, "Cannot create the node identity",
                                path);
          return NULL;
        }

      written = write_exactly (fd, contents, FILE_SIZE) && fsync (fd) == 0;
      saved_errno = errno;
      close (fd);
      if (!written)
        {
          g_unlink (path);
          set_error_from_errno (error, saved_errno, "Cannot write the node identity",
                                path);
          sodium_free (contents);
          return NULL;
        }
    }
  else
    {
      g_unlink (tmp_path);
    }

  sync_directory (data_dir);

  self = identity_new (contents + FILE_HEADER_LEN, path);
  sodium_free (contents);
  g_debug ("Created the node identity %s in “%s”", self->address, path);

  return g_steal_pointer (&self);
}

/**
 * llm_identity_load_or_create:
 * @data_dir: the node's data directory
 * @error: return location for a #GError
 *
 * Loads the node's identity from @data_dir, or creates it there on first
 * run (making @data_dir, mode 0700, if needed). This reads or writes a small
 * file: call it from a worker thread, or use
 * llm_identity_load_or_create_async(), when a main loop runs.
 *
 * Returns: (transfer full): the identity, or %NULL with @error set
 */
LlmIdentity *
llm_identity_load_or_create (const char  *data_dir,
                             GError     **error)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (data_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ensure_sodium ();
  path = g_build_filename (data_dir, LLM_IDENTITY_FILE_NAME, NULL);

  /* Load, else create, else (another process created it between the two)
   * load what it wrote. */
  for (guint attempt = 0; attempt < 2; attempt++)
    {
      LlmIdentity *self;
      gboolean missing, exists;

      self = identity_load (path, &missing, error);
      if (self != NULL || !missing)
        return self;

      self = identity_create (data_dir, path, &exists, error);
      if (self != NULL || !exists)
        return self;
    }

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
               "The node identity “%s” appears and disappears: is another program removing it?",
               path);
  return NULL;
}

static void
load_or_create_worker (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  const char *data_dir = task_data;
  LlmIdentity *identity;
  GError *error = NULL;

  identity = llm_identity_load_or_create (data_dir, &error);
  if (identity == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, identity, g_object_unref);
}

/**
 * llm_identity_load_or_create_async:
 * @data_dir: the node's data directory
 * @cancellable: (nullable): a #GCancellable
 * @callback: called on the thread-default main context of the caller
 * @user_data: data for @callback
 *
 * Does llm_identity_load_or_create() on a worker thread.
 */
void
llm_identity_load_or_create_async (const char          *data_dir,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (data_dir != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_identity_load_or_create_async);
  g_task_set_task_data (task, g_strdup (data_dir), g_free);
  g_task_set_return_on_cancel (task, TRUE);
  g_task_run_in_thread (task, load_or_create_worker);
}

/**
 * llm_identity_load_or_create_finish:
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the identity, or %NULL with @error set
 */
LlmIdentity *
llm_identity_load_or_create_finish (GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        llm_identity_load_or_create_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * llm_identity_get_address:
 * @self: a #LlmIdentity
 *
 * Returns: (transfer none): the node's `.llm` address
 */
const char *
llm_identity_get_address (LlmIdentity *self)
{
  g_return_val_if_fail (LLM_IS_IDENTITY (self), NULL);

  return self->address;
}

/**
 * llm_identity_get_public_key:
 * @self: a #LlmIdentity
 *
 * Returns: (transfer none) (array fixed-size=32): the Ed25519 public key
 */
const guint8 *
llm_identity_get_public_key (LlmIdentity *self)
{
  g_return_val_if_fail (LLM_IS_IDENTITY (self), NULL);

  return self->public_key;
}

/**
 * llm_identity_get_path:
 * @self: a #LlmIdentity
 *
 * Returns: (transfer none) (nullable): the key file, if the identity has one
 */
const char *
llm_identity_get_path (LlmIdentity *self)
{
  g_return_val_if_fail (LLM_IS_IDENTITY (self), NULL);

  return self->path;
}

/**
 * llm_identity_sign:
 * @self: a #LlmIdentity
 * @data: (array length=size): bytes to sign
 * @size: the size of @data
 * @signature: (out caller-allocates) (array fixed-size=64): the Ed25519 signature
 *
 * Signs @data with the node's key; llm_address_verify() checks it against
 * the node's address. Safe to call from any thread.
 *
 * Sign only what says what it is: prefix @data with a label of its own (as
 * the handshake does), so that a signature made for one purpose can never
 * be passed off for another.
 */
void
llm_identity_sign (LlmIdentity *self,
                   const void  *data,
                   gsize        size,
                   guint8       signature[LLM_ADDRESS_SIGNATURE_SIZE])
{
  g_return_if_fail (LLM_IS_IDENTITY (self));
  g_return_if_fail (data != NULL || size == 0);
  g_return_if_fail (signature != NULL);

  crypto_sign_detached (signature, NULL, data, size, self->secret_key);
}
