import AnalyticsPage from '@/components/AnalyticsPage';

export default async function Page({ params }: { params: Promise<{ slug: string }> }) {
  return <AnalyticsPage slug={(await params).slug} />;
}
