import java.math.BigDecimal;
import java.sql.*;

/** The PostgreSQL JDBC driver against riffle: prepared statements, typed getters, metadata, errors. */
public class JdbcTest {
    static void check(boolean cond, String what) {
        if (!cond) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/riffle?user=riffle";
        try (Connection conn = DriverManager.getConnection(url)) {
            try (Statement st = conn.createStatement()) {
                st.execute("CREATE TABLE j (id integer NOT NULL, name varchar(20), price numeric(8,2), at timestamp, flag boolean, score double precision)");
                st.execute("CREATE MATERIALIZED VIEW jv AS SELECT flag, count(*) AS n, sum(price) AS total FROM j GROUP BY flag");
            }
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO j VALUES (?, ?, ?, ?, ?, ?)")) {
                for (int i = 1; i <= 3; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "item" + i);
                    ps.setBigDecimal(3, new BigDecimal(i + ".25"));
                    ps.setTimestamp(4, Timestamp.valueOf("2024-01-0" + i + " 10:00:00"));
                    ps.setBoolean(5, i % 2 == 1);
                    ps.setDouble(6, i * 0.5);
                    check(ps.executeUpdate() == 1, "insert count");
                }
            }
            try (PreparedStatement ps = conn.prepareStatement("SELECT id, name, price, at, flag, score FROM j WHERE id >= ? ORDER BY id")) {
                ps.setInt(1, 2);
                try (ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData md = rs.getMetaData();
                    check(md.getColumnCount() == 6, "column count");
                    check(md.getColumnType(1) == Types.INTEGER, "int type");
                    check(md.getColumnType(2) == Types.VARCHAR, "varchar type");
                    check(md.getColumnType(3) == Types.NUMERIC, "numeric type");
                    check(md.getColumnType(4) == Types.TIMESTAMP, "timestamp type");
                    check(md.getColumnType(5) == Types.BIT || md.getColumnType(5) == Types.BOOLEAN, "bool type");
                    check(md.getColumnType(6) == Types.DOUBLE, "double type");
                    check(rs.next(), "row 2");
                    check(rs.getInt(1) == 2 && rs.getString(2).equals("item2"), "row 2 values");
                    check(rs.getBigDecimal(3).equals(new BigDecimal("2.25")), "numeric value " + rs.getBigDecimal(3));
                    check(rs.getTimestamp(4).equals(Timestamp.valueOf("2024-01-02 10:00:00")), "timestamp value " + rs.getTimestamp(4));
                    check(!rs.getBoolean(5) && rs.getDouble(6) == 1.0, "bool/double values");
                    check(rs.next() && rs.getInt(1) == 3, "row 3");
                    check(!rs.next(), "two rows");
                }
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT n, total FROM jv WHERE flag")) {
                check(rs.next() && rs.getLong(1) == 2 && rs.getBigDecimal(2).equals(new BigDecimal("4.50")), "view");
            }
            try (Statement st = conn.createStatement()) {
                st.executeQuery("SELECT * FROM nowhere");
                throw new AssertionError("expected an error");
            } catch (SQLException e) {
                check("42P01".equals(e.getSQLState()), "sqlstate " + e.getSQLState());
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM j")) {
                check(rs.next() && rs.getLong(1) == 3, "session continues");
            }
        }
        System.out.println("JDBC OK");
    }
}
