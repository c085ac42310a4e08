import java.sql.*;
import java.util.Properties;

/** JDBC over TLS (sslmode=verify-full with the test's CA) and SCRAM-SHA-256 as alice; a wrong
 *  password gets SQLSTATE 28P01. Usage: SecurityTest PORT CA_PEM PASSWORD */
public class SecurityTest {
    static Connection connect(String port, String ca, String password) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "alice");
        p.setProperty("password", password);
        p.setProperty("sslmode", "verify-full");
        p.setProperty("sslrootcert", ca);
        return DriverManager.getConnection("jdbc:postgresql://localhost:" + port + "/riffle", p);
    }

    public static void main(String[] args) throws Exception {
        try (Connection c = connect(args[0], args[1], args[2]);
             ResultSet rs = c.createStatement().executeQuery("SELECT current_user, count(*) FROM secrets")) {
            rs.next();
            if (!rs.getString(1).equals("alice") || rs.getLong(2) != 1) {
                throw new AssertionError("unexpected row " + rs.getString(1) + " " + rs.getLong(2));
            }
        }
        try {
            connect(args[0], args[1], "wrong").close();
            throw new AssertionError("a wrong password got in");
        } catch (SQLException e) {
            if (!"28P01".equals(e.getSQLState())) {
                throw new AssertionError("expected 28P01, got " + e.getSQLState() + ": " + e.getMessage());
            }
        }
        System.out.println("ok");
    }
}
