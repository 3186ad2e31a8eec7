/* Preloaded by tests/asan/wrap.sh: libraries stay loaded until the process
 * ends, so LeakSanitizer can name the library a leak comes from. */
int dlclose(void *handle)
{
  (void) handle;
  return 0;
}
