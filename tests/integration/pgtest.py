"""A private PostgreSQL 15 for Keyhold's database-engine tests.

initdb runs as the postgres user (it refuses root) into a fresh temporary
directory owned by postgres; the server listens on 127.0.0.1 and a free
port, with its unix socket inside that directory, fsync off. The test talks
to it with psql (PGPASSWORD in the environment, never on the command line)
and stops it by the PID in postmaster.pid. PostgreSQL 15 details this
relies on: initdb refuses root (so it runs as postgres via runuser), and
CREATE DATABASE cannot run inside a multi-statement psql -c.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from khtest import free_port

PGBIN = os.environ.get("KH_PGBIN", "/usr/lib/postgresql/15/bin")
PSQL = shutil.which("psql") or os.path.join(PGBIN, "psql")
SUPERUSER_PW = "pg-super-pw"


def _traversable_by_postgres(path):
    return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", path],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


class Postgres:
    """One throwaway PostgreSQL cluster; start(), stop(), cleanup()."""

    def __init__(self):
        base = os.environ.get("KH_TEST_TMP") or "/tmp"
        os.makedirs(base, exist_ok=True)
        if not _traversable_by_postgres(base):
            base = "/tmp"
        self.dir = tempfile.mkdtemp(prefix="kh-pg-", dir=base)
        os.chmod(self.dir, 0o711)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "server.log")
        self.port = free_port()
        os.makedirs(self.sock)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(SUPERUSER_PW + "\n")
        subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(PGBIN, "initdb"),
                        "-D", self.data, "-U", "postgres", "--pwfile=" + pwfile,
                        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                        "--locale=C.UTF-8", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.unlink(pwfile)

    def start(self):
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off" % (self.port, self.sock))
        subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(PGBIN, "pg_ctl"),
                        "-D", self.data, "-l", self.log, "-w", "-t", "30", "-o", opts, "start"],
                       check=True, stdout=subprocess.DEVNULL)
        return self

    def pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """Fast shutdown by PID (SIGINT), waiting until the postmaster is gone."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if os.environ.get("KH_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, user="postgres", password=None, db="postgres", tcp=False,
             timeout=30):
        """(returncode, stdout, stderr) of psql -c sql. Without tcp the
        superuser connects through the private socket (trust)."""
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("PG"):
                del env[k]
        if password is not None:
            env["PGPASSWORD"] = password
        host = "127.0.0.1" if tcp or password is not None else self.sock
        cmd = [PSQL, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", host,
               "-p", str(self.port), "-U", user, "-d", db, "-c", sql]
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return p.returncode, p.stdout.decode().strip(), p.stderr.decode().strip()

    def sql(self, sql, db="postgres"):
        """Run sql as the superuser; raise on failure; return stdout."""
        rc, out, err = self.psql(sql, db=db)
        if rc != 0:
            raise RuntimeError("psql failed (%d): %s" % (rc, err))
        return out

    def session(self, user, password, db, sql="SELECT pg_sleep(60)"):
        """A background psql session as user, for termination checks."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = password
        return subprocess.Popen([PSQL, "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port),
                                 "-U", user, "-d", db, "-c", sql], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def role_exists(self, name):
        return self.sql("SELECT count(*) FROM pg_roles WHERE rolname = '%s'"
                        % name.replace("'", "''")) == "1"
