// PgjdbcWorkload.java - pgjdbc through pgscope with prepareThreshold=1 (named server statements from the first use).
//
// Usage: java -cp /usr/share/java/postgresql.jar PgjdbcWorkload.java HOST PORT DBNAME [CLIENTS] [ROUNDS]
//
// CLIENTS threads, each with its own connection, run ROUNDS rounds of checked
// PreparedStatement queries and a transaction. Prints one summary line; exit
// status 0 only without errors.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

public class PgjdbcWorkload {
	static final List<String> errors = Collections.synchronizedList(new ArrayList<>());
	static final AtomicLong statements = new AtomicLong();

	static void check(boolean cond, String what) {
		if (!cond)
			throw new AssertionError(what);
	}

	static long single(PreparedStatement ps) throws SQLException {
		try (ResultSet rs = ps.executeQuery()) {
			check(rs.next(), "one row expected");
			return rs.getLong(1);
		}
	}

	static void client(String url, int n, int rounds) throws SQLException {
		String who = "pgjdbc-" + n;
		try (Connection c = DriverManager.getConnection(url)) {
			try (PreparedStatement del = c.prepareStatement("DELETE FROM it_drivers WHERE who = ?")) {
				del.setString(1, who);
				del.executeUpdate();
			}
			PreparedStatement add = c.prepareStatement("SELECT ?::int + ?::int");
			PreparedStatement ins = c.prepareStatement(
				"INSERT INTO it_drivers (who, n) VALUES (?, ?) RETURNING n");
			PreparedStatement cnt = c.prepareStatement("SELECT count(*) FROM it_drivers WHERE who = ?");
			for (int i = 0; i < rounds; i++) {
				add.setInt(1, i);
				add.setInt(2, n);
				check(single(add) == i + n, "sum");
				c.setAutoCommit(false);
				ins.setString(1, who);
				ins.setInt(2, i);
				check(single(ins) == i, "insert returning");
				cnt.setString(1, who);
				check(single(cnt) == i + 1, "count");
				c.commit();
				c.setAutoCommit(true);
				statements.addAndGet(5);
			}
			add.close();
			ins.close();
			cnt.close();
		}
	}

	public static void main(String[] args) throws Exception {
		String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/" + args[2]
			+ "?user=postgres&prepareThreshold=1&connectTimeout=10&sslmode=disable";
		int clients = args.length > 3 ? Integer.parseInt(args[3]) : 6;
		int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 40;
		List<Thread> threads = new ArrayList<>();
		for (int n = 0; n < clients; n++) {
			final int id = n;
			Thread t = new Thread(() -> {
				try {
					client(url, id, rounds);
				} catch (Throwable e) {
					errors.add("client " + id + ": " + e);
				}
			});
			threads.add(t);
			t.start();
		}
		for (Thread t : threads)
			t.join();
		for (String e : errors)
			System.out.println(e);
		System.out.println("pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION + ": " + clients + " clients, "
				   + statements.get() + " statements, " + errors.size() + " errors");
		System.exit(errors.isEmpty() ? 0 : 1);
	}
}
