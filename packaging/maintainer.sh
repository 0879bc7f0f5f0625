# Shell functions shared by the .deb and .rpm maintainer scripts (scripts/package.ts prepends them to
# each script). POSIX sh; every step is idempotent and tolerates a system not running systemd (a
# container, an image build), where systemctl calls are skipped.

UNIT=rclone-migrate.service
USER_NAME=rclone-migrate
# Overridable only so the tests can run these functions in a scratch directory.
SHARE_DIR=${RCLONE_MIGRATE_SHARE_DIR:-/usr/share/rclone-migrate}
DROPIN_DIR=${RCLONE_MIGRATE_DROPIN_DIR:-/etc/systemd/system/rclone-migrate.service.d}
DROPIN=$DROPIN_DIR/restart-backoff.conf

running_systemd() {
  [ -d /run/systemd/system ]
}

create_user() {
  if ! getent group "$USER_NAME" >/dev/null 2>&1; then
    groupadd --system "$USER_NAME"
  fi
  if ! getent passwd "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --gid "$USER_NAME" --home-dir /var/lib/rclone-migrate --no-create-home \
      --shell /usr/sbin/nologin --comment "rclone-migrate worker" "$USER_NAME"
  fi
}

# Exponential restart back-off (RestartSteps=, RestartMaxDelaySec=) exists from systemd 254 on; older
# systemd (Amazon Linux 2023 ships 252) would warn about unknown keys, so the drop-in goes in only there.
install_backoff_dropin() {
  version=$(systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 }')
  case "$version" in
    '' | *[!0-9]*) return 0 ;;
  esac
  if [ "$version" -ge 254 ]; then
    mkdir -p "$DROPIN_DIR"
    cp "$SHARE_DIR/restart-backoff.conf" "$DROPIN"
  else
    rm -f "$DROPIN"
  fi
}

remove_backoff_dropin() {
  rm -f "$DROPIN"
  rmdir "$DROPIN_DIR" 2>/dev/null || true
}

reload_systemd() {
  if running_systemd; then systemctl daemon-reload || true; fi
}

# Enabled but not started on first install: the worker needs a queue URL first. Whoever writes the
# config starts it (the CloudFormation user data does).
enable_unit() {
  systemctl enable "$UNIT" >/dev/null 2>&1 || true
}

restart_if_running() {
  if running_systemd && systemctl is-active --quiet "$UNIT"; then systemctl restart "$UNIT" || true; fi
}

stop_unit() {
  if running_systemd; then systemctl stop "$UNIT" || true; fi
}

disable_unit() {
  systemctl disable "$UNIT" >/dev/null 2>&1 || true
}
